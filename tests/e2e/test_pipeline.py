"""End to end with real processes: redis-server, the simulator, celery workers (both queues) and beat.

One stack per database (SQLite, then PostgreSQL; fixture `stack` in conftest.py); the
tests drive the simulator through its control API and wait, by condition, for the database to follow.
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from tests.e2e.conftest import INTERVAL, Stack
from tests.support.procs import wait_for
from vurti.domain.status import HostStatus, VmStatus
from vurti.inventory import add_hosts
from vurti.runtime import keys
from vurti.sim.registration import fleet_hosts


def _running_vm(stack: Stack, host: str) -> str:
    for vm in stack.sim.vms(host):
        if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host:
            return str(vm["vm_id"])
    raise AssertionError(f"no running VM on {host}")


def test_crashed_vm_is_recorded_down_audited_and_destroyed(stack: Stack) -> None:
    vm_id = _running_vm(stack, "host-0001")
    stack.sim.crash(vm_id, reason=2, message="qemu died")
    started = time.monotonic()
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Down, timeout=30, what="VM Down in the DB")
    assert time.monotonic() - started < 2 * INTERVAL + 2.0  # within two intervals, plus process hops
    vm = stack.vm(vm_id)
    assert (vm.exit_code, vm.exit_reason, vm.exit_message) == (1, 2, "qemu died")
    wait_for(lambda: any(e.event_type == "VmDown" for e in stack.audit(vm_id)), timeout=20, what="VmDown audit")
    wait_for(lambda: any(d["vm_id"] == vm_id for d in stack.sim.destroys()), timeout=30, what="VM.destroy sent")
    listed = stack.sim.vms("host-0001")
    assert all(not (v["vm_id"] == vm_id and v["truth"]["host"]) for v in listed)


def test_stopped_and_started_vm_are_reflected_within_two_intervals(stack: Stack) -> None:
    vm_id = _running_vm(stack, "host-0002")
    stack.sim.stop(vm_id, by="admin")
    started = time.monotonic()
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Down, timeout=30, what="stopped VM Down in the DB")
    assert time.monotonic() - started < 2 * INTERVAL + 2.0  # within two intervals, plus process hops
    wait_for(lambda: any(e.event_type == "VmDown" for e in stack.audit(vm_id)), timeout=20, what="VmDown audit")
    assert stack.vm(vm_id).exit_code == 0  # a normal exit, not an error
    wait_for(lambda: any(d["vm_id"] == vm_id for d in stack.sim.destroys()), timeout=30, what="VM.destroy sent")
    stack.sim.start(vm_id, host="host-0002")
    started = time.monotonic()
    wait_for(lambda: stack.vm(vm_id).status in (VmStatus.WaitForLaunch, VmStatus.PoweringUp, VmStatus.Up),
             timeout=30, what="started VM running in the DB")
    assert time.monotonic() - started < 2 * INTERVAL + 2.0
    assert stack.vm(vm_id).host_id == stack.host_id("host-0002")
    wait_for(lambda: any(e.event_type == "VmStateChanged" and "from Down" in e.message for e in stack.audit(vm_id)),
             timeout=20, what="start audited")


def test_migrated_vm_ends_up_on_destination_without_vmdown(stack: Stack) -> None:
    vm_id = _running_vm(stack, "host-0002")
    stack.sim.migrate(vm_id, to="host-0003", mode="precopy", steps=2)
    dest = stack.host_id("host-0003")
    wait_for(lambda: stack.vm(vm_id).host_id == dest and stack.vm(vm_id).status is VmStatus.Up,
             timeout=40, what="VM Up on the destination")
    wait_for(lambda: any(e.event_type == "VmMigrationEnded" for e in stack.audit(vm_id)), timeout=20,
             what="VmMigrationEnded audit")
    assert not any(e.event_type == "VmDown" for e in stack.audit(vm_id))
    wait_for(lambda: any(d["vm_id"] == vm_id and d["host"] == "host-0002" for d in stack.sim.destroys()),
             timeout=30, what="source record destroyed")


def test_silent_host_goes_connecting_then_nonresponsive_then_up(stack: Stack) -> None:
    stack.sim.set_fault("host-0003", "refuse")
    seen: list[HostStatus] = []

    def reached(status: HostStatus) -> bool:
        current = stack.host_status("host-0003")
        if not seen or seen[-1] is not current:
            seen.append(current)
        return current is status

    wait_for(lambda: reached(HostStatus.NonResponsive), timeout=60, what="NonResponsive")
    assert HostStatus.Connecting in seen
    stack.sim.clear_fault("host-0003")
    wait_for(lambda: stack.host_status("host-0003") is HostStatus.Up, timeout=60, what="Up again")


def test_host_added_at_runtime_is_monitored(stack: Stack) -> None:
    last = fleet_hosts(stack.sim_url)[-1]
    add_hosts(stack.svc, [last])
    wait_for(lambda: stack.host_status(last.name) is HostStatus.Up, timeout=30, what="new host Up")
    host_id = stack.host_id(last.name)
    wait_for(lambda: len(list(_vms_on(stack, host_id))) > 0, timeout=30, what="its VMs recorded")


def _vms_on(stack: Stack, host_id: str) -> list[Any]:
    with stack.svc.uow() as uow:
        return list(uow.vms.list_vms(host_id))


def test_two_update_workers_share_work_and_never_overlap_on_a_host(stack: Stack) -> None:
    # Generate changes on every host so both update workers get work.
    for host in ("host-0001", "host-0002", "host-0003"):
        for vm in stack.sim.vms(host):
            if vm["truth"]["status"] == "Up":
                stack.sim.pause(vm["vm_id"])
    wait_for(lambda: len({e[1][b"holder"] for e in stack.svc.redis.xrange(keys.LOCK_LOG)}) >= 2,
             timeout=60, what="locks taken by two worker processes")
    entries = stack.svc.redis.xrange(keys.LOCK_LOG)
    by_host: dict[bytes, list[tuple[float, float]]] = {}
    for _id, fields in entries:
        by_host.setdefault(fields[b"host"], []).append((float(fields[b"acquired"]), float(fields[b"released"])))
    for host, spans in by_host.items():
        spans.sort()
        for (_a1, r1), (a2, _r2) in pairwise(spans):
            assert a2 >= r1, f"two holders of {host!r} overlapped"
