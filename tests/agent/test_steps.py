"""poll_steps without I/O: the steady-state short-cut for an unchanged short VM list, the devices round."""

from __future__ import annotations

from typing import Any

from vurti.agent import vm_digest
from vurti.agent.errors import METHOD_NOT_FOUND_CODE, AgentErrorReply
from vurti.agent.parse import parse_vm_list
from vurti.agent.plan import PollRequest
from vurti.agent.steps import (
    DEVICES_PER_CALL,
    DUMPXMLS,
    GET_VM_FULL_LIST,
    GET_VM_LIST,
    Call,
    poll_steps,
    run_steps,
)

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


def _xml(vm_id: str) -> str:
    return (f"<domain type='kvm'><uuid>{vm_id}</uuid><devices><disk type='file' device='disk'>"
            f"<alias name='ua-{DISK_IDS[vm_id]}'/><address type='drive' unit='0'/></disk></devices></domain>")


DISK_IDS = {f"vm{i:03d}": f"00000000-0000-4000-8000-{i:012d}" for i in range(DEVICES_PER_CALL + 3)}


def _device_round(ids: list[str], fail_at: int | None = None, legacy: bool = False,
                  code: int = 100) -> tuple[list[tuple[str, list[str]]], Any]:
    """A devices round against a host of VDSM 4.50 (or 4.30: `legacy`), the `fail_at`-th call failing."""
    asked: list[tuple[str, list[str]]] = []

    def call(step: Call) -> Any:
        assert step.params is not None
        asked.append((step.verb, step.params["vmList"]))
        if fail_at is not None and len(asked) == fail_at:
            raise AgentErrorReply("failed", code=code)
        if step.verb == DUMPXMLS:
            if legacy:
                raise AgentErrorReply("The method does not exist or is not available", code=METHOD_NOT_FOUND_CODE)
            return {vm_id: _xml(vm_id) for vm_id in step.params["vmList"]}
        assert step.verb == GET_VM_FULL_LIST and legacy
        return [{"vmId": vm_id, "devices": [{"type": "disk", "device": "disk", "deviceId": DISK_IDS[vm_id],
                                             "alias": f"ua-{DISK_IDS[vm_id]}", "address": {"type": "drive", "unit": "0"}}]}
                for vm_id in step.params["vmList"]]

    request = PollRequest("h", "u", now=1.0, vms=False, devices_of=tuple(ids))
    return asked, run_steps(poll_steps(request), call)


def test_the_devices_round_asks_for_the_changed_vms_in_chunks() -> None:
    ids = sorted(DISK_IDS)
    asked, report = _device_round(ids)
    assert asked == [(DUMPXMLS, ids[:DEVICES_PER_CALL]), (DUMPXMLS, ids[DEVICES_PER_CALL:])]
    assert report.ok and [vm.vm_id for vm in report.vms] == ids
    assert all(vm.devices and vm.devices[0].device_id == DISK_IDS[vm.vm_id] for vm in report.vms)


def test_a_host_without_dumpxmls_is_asked_its_full_list_for_the_same_devices() -> None:
    ids = sorted(DISK_IDS)
    asked, legacy = _device_round(ids, legacy=True)
    assert asked == [(DUMPXMLS, ids[:DEVICES_PER_CALL]), (GET_VM_FULL_LIST, ids[:DEVICES_PER_CALL]),
                     (GET_VM_FULL_LIST, ids[DEVICES_PER_CALL:])]  # dumpxmls once: the rest of the round goes on
    assert legacy.ok and legacy.vms == _device_round(ids)[1].vms  # the same records either way


def test_a_failed_devices_call_keeps_what_was_read_before_it() -> None:
    ids = sorted(DISK_IDS)
    asked, report = _device_round(ids, fail_at=2)
    assert len(asked) == 2 and report.error is not None and report.error.verb == DUMPXMLS
    assert [vm.vm_id for vm in report.vms] == ids[:DEVICES_PER_CALL]


def test_only_method_not_found_falls_back() -> None:
    """Any other error of dumpxmls (a VM gone meanwhile: an internal error) fails the round."""
    asked, report = _device_round(sorted(DISK_IDS), fail_at=1, code=-32603)
    assert [verb for verb, _ in asked] == [DUMPXMLS]
    assert report.error is not None and report.error.code == -32603 and report.vms == ()


def test_a_vm_whose_xml_cannot_be_read_is_a_warning_and_the_round_goes_on() -> None:
    """The call answered: the others' devices are read, that VM's stay unknown (the fetch settles
    its hash, as for a 4.30 row without devices), and the report is not an error."""

    def call(step: Call) -> Any:
        return {"vm000": _xml("vm000"), "vm001": "<domain><devices><disk", "vm002": {"not": "xml"}}

    request = PollRequest("h", "u", now=1.0, vms=False, devices_of=("vm000", "vm001", "vm002"))
    report = run_steps(poll_steps(request), call)
    assert report.ok and [vm.vm_id for vm in report.vms] == ["vm000"]
    assert [w.split(":")[0] for w in report.warnings] == ["vm vm001", "vm vm002"]
