"""End to end: a hot-plugged device is seen stored, and a block job is tracked to its end.

Real processes (fixture `stack` in conftest.py: redis-server, the simulator over STOMP
with TLS, celery workers and beat), on SQLite and PostgreSQL. host-0001 runs VDSM 4.30
(devices from Host.getVMFullList), the others VDSM 4.50 (devices from Host.dumpxmls).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.support.procs import wait_for
from vurti.domain.devices import VmDevice

DATABASES = ("sqlite",)  # the rules on one database (tests/e2e/conftest.py)

SIM_ARGS = ("--legacy-hosts", "1")
LEGACY, HOST = "host-0001", "host-0002"


def _running_vm(stack: Stack, host: str) -> str:
    for vm in stack.sim.vms(host):
        if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host:
            return str(vm["vm_id"])
    raise AssertionError(f"no running VM on {host}")


def _stored(stack: Stack, vm_id: str) -> dict[str, VmDevice]:
    with stack.svc.uow() as uow:
        return {d.device_id: d for d in uow.vms.devices_of([vm_id]).get(vm_id, ())}


def _sim_devices(stack: Stack, vm_id: str) -> dict[str, Any]:
    """The simulator's devices that have an address and an engine id (those vurti stores by that id)."""
    return {d["deviceId"]: d for d in stack.sim.vm(vm_id)["devices"] if "address" in d and "deviceId" in d}


@pytest.mark.parametrize("host", [HOST, LEGACY], ids=["vdsm-4.50", "vdsm-4.30"])
def test_hot_plug_and_unplug_are_stored(stack: Stack, host: str) -> None:
    vm_id = _running_vm(stack, host)
    wait_for(lambda: set(_sim_devices(stack, vm_id)) <= set(_stored(stack, vm_id)), timeout=30,
             what="the VM's devices stored from its first full poll")
    plugged = stack.sim.hotplug(vm_id, kind="disk")
    new = set(_sim_devices(stack, vm_id)) - set(_stored(stack, vm_id))
    assert len(new) == 1 and plugged["hash"] == stack.sim.vm(vm_id)["hash"]
    (device_id,) = new
    wait_for(lambda: device_id in _stored(stack, vm_id), timeout=30, what="hot-plugged disk stored")
    disk = _stored(stack, vm_id)[device_id]
    assert disk.plugged and disk.managed and disk.type == "disk" and disk.address
    wait_for(lambda: any(e.event_type == "VmDevicePlugged" and disk.alias in e.message for e in stack.audit(vm_id)),
             timeout=20, what="VmDevicePlugged audit")
    stack.sim.unplug(vm_id, device_id)
    wait_for(lambda: not _stored(stack, vm_id)[device_id].plugged, timeout=30, what="unplugged disk kept unplugged")
    assert _stored(stack, vm_id)[device_id].address == ""
    wait_for(lambda: any(e.event_type == "VmDeviceUnplugged" for e in stack.audit(vm_id)), timeout=20,
             what="VmDeviceUnplugged audit")
    assert stack.vm(vm_id).hash == stack.sim.vm(vm_id)["hash"]
    calls = stack.sim.host(host)["calls"]
    if host == LEGACY:  # one refused dumpxmls per link (normally the fetch worker's one), then full lists
        assert 1 <= calls.get("Host.dumpxmls", 0) < calls.get("Host.getVMFullList", 0)
    else:
        assert calls.get("Host.dumpxmls", 0) >= 3 and "Host.getVMFullList" not in calls


def test_block_job_is_tracked_with_progress_to_its_end(stack: Stack) -> None:
    vm_id = _running_vm(stack, "host-0003")
    stack.sim.block_job(vm_id, kind="commit", steps=30)
    (job_id,) = next(r["jobs"] for r in stack.sim.vm(vm_id)["records"] if r["status"] == "Up")
    progress: list[int] = []

    def stored_jobs() -> dict[str, Any]:
        jobs = {j.job_id: j for j in stack.vm(vm_id).jobs}
        if job_id in jobs:
            progress.append(jobs[job_id].cur)
        return jobs

    wait_for(lambda: job_id in stored_jobs(), timeout=30, what="block job stored")
    job = stored_jobs()[job_id]
    assert (job.job_type, job.block_job_type, job.end) == ("block", "commit", 1024**3)
    wait_for(lambda: job_id not in stored_jobs(), timeout=60, what="block job ended")
    assert len(set(progress)) >= 2 and progress == sorted(progress)  # its progress was stored as it went
    wait_for(lambda: [e.event_type for e in stack.audit(vm_id) if e.event_type in ("VmJobStarted", "VmJobEnded")]
             == ["VmJobEnded", "VmJobStarted"], timeout=20, what="one start and one end audited")
    (ended,) = [e for e in stack.audit(vm_id) if e.event_type == "VmJobEnded"]
    assert "finished" in ended.message and ended.severity == "normal"
