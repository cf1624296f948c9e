"""poll_steps without I/O: the steady-state short-cut for an unchanged short VM list."""

from __future__ import annotations

from typing import Any

from vurti.agent import vm_digest
from vurti.agent.parse import parse_vm_list
from vurti.agent.plan import PollRequest
from vurti.agent.steps import GET_VM_LIST, Call, poll_steps, run_steps

ROWS = [{"vmId": "a", "status": "Up", "statusTime": "5"}, {"vmId": "b", "status": "Paused", "statusTime": "5"}]


def _poll(request: PollRequest, rows: Any) -> Any:
    asked: list[str] = []

    def call(step: Call) -> Any:
        asked.append(step.verb)
        return rows

    report = run_steps(poll_steps(request), call)
    assert asked == [GET_VM_LIST]
    return report


def test_a_short_list_matching_a_given_digest_is_not_parsed() -> None:
    known = vm_digest(parse_vm_list(ROWS))
    report = _poll(PollRequest("h", "u", now=1.0, unchanged_if=("other", known)), ROWS)
    assert report.ok and report.vms_unchanged and report.vms is None


def test_a_changed_or_irregular_short_list_is_parsed_as_before() -> None:
    known = vm_digest(parse_vm_list(ROWS))
    changed = [ROWS[0], {**ROWS[1], "status": "Up"}]
    report = _poll(PollRequest("h", "u", now=1.0, unchanged_if=(known,)), changed)
    assert not report.vms_unchanged and [vm.vm_id for vm in report.vms] == ["a", "b"]
    irregular = [*ROWS, "junk"]  # same VMs, plus an entry the parser skips with a warning
    report = _poll(PollRequest("h", "u", now=1.0, unchanged_if=(known,)), irregular)
    assert not report.vms_unchanged and len(report.vms) == 2 and report.warnings


def test_without_digests_the_list_is_always_parsed() -> None:
    report = _poll(PollRequest("h", "u", now=1.0), ROWS)
    assert not report.vms_unchanged and len(report.vms) == 2
