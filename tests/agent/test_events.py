"""VDSM's |virt|VM_status| events as partial reports (the wire forms of vdsm-stomp.md §4 and §8)."""

from __future__ import annotations

from typing import Any

import pytest

from vurti.agent.events import event_report
from vurti.domain.status import VmStatus

VM = "5b7a9c1e-3f2d-4c8e-9a61-0d2f4b6e8a10"


def event(params: dict[str, Any], method: str = f"|virt|VM_status|{VM}") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def test_a_down_event_carries_the_exit_and_the_host_clock() -> None:
    details = {"status": "Down", "vmId": VM, "exitCode": 0, "exitMessage": "User shut down from within the guest",
               "exitReason": 7, "timeOffset": "0"}
    report = event_report("h1", event({VM: details, "notify_time": 4295120000}), received_at=50.0)
    assert report is not None
    assert report.partial and report.host_id == "h1" and report.fetched_at == 50.0 and report.error is None
    (vm,) = report.vms or ()
    assert (vm.vm_id, vm.status, vm.status_time) == (VM, VmStatus.Down, 4295120000)
    assert (vm.exit_code, vm.exit_reason, vm.exit_message) == (0, 7, "User shut down from within the guest")


def test_a_pause_event_keeps_its_pause_code_and_reads_numbers_in_strings() -> None:
    details = {"status": "Paused", "pauseCode": "EIO", "monitorResponse": "0", "elapsedTime": "12"}
    report = event_report("h1", event({VM: details, "notify_time": "4295121500"}), received_at=1.0)
    assert report is not None
    (vm,) = report.vms or ()
    assert (vm.status, vm.pause_code, vm.monitor_response, vm.status_time) == (VmStatus.Paused, "EIO", 0, 4295121500)
    assert vm.stats is None  # an event carries no statistics


@pytest.mark.parametrize("message", [
    event({VM: {"status": "Up"}}),  # no notify_time: nothing orders it against the polls
    event({VM: {"status": "Up"}, "notify_time": "soon"}),
    event({"notify_time": 5}),  # no VM in it
    event({VM: {"progress": 50}, "notify_time": 5}, method=f"|virt|VM_migration_status|{VM}"),
    event([], method=f"|virt|VM_status|{VM}"),  # type: ignore[arg-type]
    {"jsonrpc": "2.0", "method": 7, "params": {}},
])
def test_events_that_cannot_be_applied_are_dropped(message: dict[str, Any]) -> None:
    assert event_report("h1", message, received_at=1.0) is None


def test_a_bad_vm_in_an_event_is_a_per_vm_problem() -> None:
    params = {VM: {"status": "Hibernating"}, "other": "not an object", "notify_time": 9}
    report = event_report("h1", event(params), received_at=1.0)
    assert report is not None
    (vm,) = report.vms or ()
    assert vm.status is None and vm.problem and "Hibernating" in vm.problem
    assert any("not an object" in w for w in report.warnings)


def test_a_host_conn_event_is_a_capabilities_hint_not_a_report() -> None:
    from vurti.agent.events import capabilities_hint, event_report

    message = {"jsonrpc": "2.0", "method": "|net|host_conn|refresh", "params": {"notify_time": 7}}
    assert capabilities_hint(message)
    assert event_report("h1", message, 1.0) is None
    assert not capabilities_hint({"method": "|virt|VM_status|x", "params": {}})
    assert not capabilities_hint({"params": {}})
