"""End to end: highly available VMs, engine-started runs and migrations, a lost host's fencing
request and its VMs with a lease, through real processes and the simulator (fixture `stack`)."""

from __future__ import annotations

from typing import Any

import orjson

from tests.e2e.conftest import INTERVAL, Stack
from tests.support.procs import wait_for
from vurti.domain.status import HostStatus, VmStatus
from vurti.runtime import keys

DATABASES = ("postgresql",)  # the rules on one database (tests/e2e/conftest.py)


def _running_vms(stack: Stack, host: str) -> list[str]:
    return [str(vm["vm_id"]) for vm in stack.sim.vms(host)
            if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host]


def _events(stack: Stack, vm_id: str, kind: str) -> list[Any]:
    return [e for e in stack.audit(vm_id) if e.event_type == kind]


def _stopped(stack: Stack, host: str) -> str:
    """A VM of `host` shut down, recorded Down and destroyed there: ready to be started again."""
    vm_id = _running_vms(stack, host)[0]
    stack.sim.stop(vm_id, by="admin")
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Down, timeout=30, what="VM Down in the DB")
    wait_for(lambda: any(d["vm_id"] == vm_id for d in stack.sim.destroys()), timeout=30, what="VM.destroy sent")
    return vm_id


def test_highly_available_vm_that_crashes_raises_a_restart_request(stack: Stack) -> None:
    crashing, stopping = _running_vms(stack, "host-0001")[:2]
    for vm_id in (crashing, stopping):
        stack.svc.operations.set_vm(vm_id, ha=True)
    stack.sim.crash(crashing, reason=2, message="qemu died")
    stack.sim.stop(stopping, by="user")
    wait_for(lambda: _events(stack, crashing, "VmRestartRequested"), timeout=30, what="restart requested")
    [request] = _events(stack, crashing, "VmRestartRequested")
    assert request.severity == "alert" and "qemu died" in request.message
    wait_for(lambda: _events(stack, stopping, "VmDown"), timeout=30, what="normal shutdown recorded")
    assert not _events(stack, stopping, "VmRestartRequested")  # a normal exit is never restarted


def test_expected_run_is_confirmed(stack: Stack) -> None:
    vm_id = _stopped(stack, "host-0002")
    stack.svc.operations.expect_run(vm_id, "host-0002")
    stack.sim.start(vm_id, host="host-0002")
    wait_for(lambda: _events(stack, vm_id, "EngineOperationSucceeded"), timeout=30, what="run confirmed")
    assert stack.svc.operations.pending() == []
    assert stack.vm(vm_id).host_id == stack.host_id("host-0002")


def test_expected_run_that_fails_asks_for_a_rerun_not_a_restart(stack: Stack) -> None:
    vm_id = _stopped(stack, "host-0002")
    stack.svc.operations.set_vm(vm_id, ha=True)
    stack.svc.operations.expect_run(vm_id, "host-0002")
    stack.sim.start(vm_id, host="host-0002", fail="internal error: cannot start domain")
    wait_for(lambda: _events(stack, vm_id, "VmRerunRequested"), timeout=30, what="rerun requested")
    assert "cannot start domain" in _events(stack, vm_id, "VmRerunRequested")[0].message
    assert stack.svc.operations.pending() == []
    wait_for(lambda: any(d["vm_id"] == vm_id and d["host"] == "host-0002" for d in stack.sim.destroys()[-20:]),
             timeout=30, what="failed run's record destroyed")
    assert not _events(stack, vm_id, "VmRestartRequested")


def test_expected_run_never_reported_times_out(stack: Stack) -> None:
    vm_id = _stopped(stack, "host-0001")
    stack.svc.operations.expect_run(vm_id, "host-0001", timeout=2 * INTERVAL)
    wait_for(lambda: _events(stack, vm_id, "VmRerunRequested"), timeout=30, what="rerun after the timeout")
    assert "within 2 s" in _events(stack, vm_id, "VmRerunRequested")[0].message
    assert stack.svc.operations.pending() == []


def test_expected_migration_is_confirmed_on_its_destination(stack: Stack) -> None:
    vm_id = _running_vms(stack, "host-0002")[0]
    stack.svc.operations.expect_migrate(vm_id, "host-0001")
    stack.sim.migrate(vm_id, to="host-0001", mode="precopy", steps=2)
    wait_for(lambda: _events(stack, vm_id, "EngineOperationSucceeded"), timeout=40, what="migration confirmed")
    assert stack.vm(vm_id).host_id == stack.host_id("host-0001")
    assert stack.svc.operations.pending() == []


def _feed(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"data"]) for _id, fields in stack.svc.redis.xrange(keys.EVENTS_STREAM)
            if fields[b"type"] == kind.encode()]


def test_lost_host_is_fenced_once_and_its_vms_with_a_lease_restartable_elsewhere(stack: Stack) -> None:
    leased, highly_available = _running_vms(stack, "host-0003")[:2]
    stack.svc.operations.set_vm(leased, lease_sd_id="sd-1")
    stack.svc.operations.set_vm(highly_available, ha=True)
    host_id = stack.host_id("host-0003")
    stack.sim.set_fault("host-0003", "refuse")
    try:
        wait_for(lambda: stack.host_status("host-0003") is HostStatus.NonResponsive, timeout=60, what="NonResponsive")
        wait_for(lambda: [r for r in _feed(stack, "HostFencingRequested") if r["host_id"] == host_id], timeout=20,
                 what="fencing requested on the live feed")
        [request] = [r for r in _feed(stack, "HostFencingRequested") if r["host_id"] == host_id]
        assert request["address"] == stack.svc.resolve_host("host-0003").url
        assert leased in request["vm_ids"] and request["lease_vm_ids"] == [leased]
        assert request["ha_vm_ids"] == [highly_available]
        assert stack.vm(leased).status is VmStatus.Unknown
        # ten poll intervals after NonResponsive: the VM with a lease may run elsewhere
        wait_for(lambda: _events(stack, leased, "VmLeaseRestartRequested"), timeout=40, what="lease restart")
        assert not _events(stack, highly_available, "VmLeaseRestartRequested")
        assert len([r for r in _feed(stack, "HostFencingRequested") if r["host_id"] == host_id]) == 1
    finally:
        stack.sim.clear_fault("host-0003")
    wait_for(lambda: stack.host_status("host-0003") is HostStatus.Up, timeout=60, what="Up again")
