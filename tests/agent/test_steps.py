"""poll_steps without I/O: the steady-state short-cut for an unchanged short VM list, the devices round."""

from __future__ import annotations

from typing import Any

from vurti.agent import vm_digest
from vurti.agent.errors import AgentErrorReply
from vurti.agent.parse import parse_vm_list
from vurti.agent.plan import PollRequest
from vurti.agent.steps import DEVICES_PER_CALL, GET_VM_FULL_LIST, GET_VM_LIST, Call, poll_steps, run_steps

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


def _device_round(ids: list[str], fail_at: int | None = None) -> tuple[list[list[str]], Any]:
    asked: list[list[str]] = []

    def call(step: Call) -> Any:
        assert step.verb == GET_VM_FULL_LIST and step.params is not None
        asked.append(step.params["vmList"])
        if fail_at is not None and len(asked) == fail_at:
            raise AgentErrorReply("General Exception", code=100)
        return [{"vmId": vm_id, "devices": [{"type": "disk", "device": "disk", "deviceId": f"d-{vm_id}",
                                             "address": {"unit": "0"}}]} for vm_id in step.params["vmList"]]

    request = PollRequest("h", "u", now=1.0, vms=False, devices_of=tuple(ids))
    return asked, run_steps(poll_steps(request), call)


def test_the_devices_round_asks_for_the_changed_vms_in_chunks() -> None:
    ids = [f"vm{i:03d}" for i in range(DEVICES_PER_CALL + 3)]
    asked, report = _device_round(ids)
    assert asked == [ids[:DEVICES_PER_CALL], ids[DEVICES_PER_CALL:]]
    assert report.ok and [vm.vm_id for vm in report.vms] == ids
    assert all(vm.devices and vm.devices[0].device_id == f"d-{vm.vm_id}" for vm in report.vms)


def test_a_failed_devices_call_keeps_what_was_read_before_it() -> None:
    ids = [f"vm{i:03d}" for i in range(DEVICES_PER_CALL + 3)]
    asked, report = _device_round(ids, fail_at=2)
    assert len(asked) == 2 and report.error is not None and report.error.verb == GET_VM_FULL_LIST
    assert [vm.vm_id for vm in report.vms] == ids[:DEVICES_PER_CALL]
