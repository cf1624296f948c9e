"""Statistics users look at, end to end: usage history accumulating over statistics cycles,
CPU per vCPU from the simulator's VDSM figures, and statistics zeroed when the VM stops.

The real stack of conftest.py (simulator over STOMP with TLS, workers, beat), SQLite then
PostgreSQL; statistics cycles come every third poll and with every safety-net poll.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Stack
from tests.support.procs import wait_for
from vurti.domain.model import VmUsage
from vurti.domain.report import VmStats
from vurti.domain.status import VmStatus

DATABASES = ("sqlite",)  # the rules on one database (tests/e2e/conftest.py)


def _running_vm_with_nics(stack: Stack, host: str) -> str | None:
    """A VM running on `host` whose stored statistics show NICs (not every simulated VM has one)."""
    for vm in stack.sim.vms(host):
        if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host:
            stored = _stored(stack, vm["vm_id"])[0]
            if stored is not None and stored[1].nics:
                return str(vm["vm_id"])
    return None


def _stored(stack: Stack, vm_id: str) -> tuple[Any, VmUsage | None]:
    with stack.svc.uow() as uow:
        return uow.vms.get_vm_stats(vm_id), uow.vms.get_vm_usage(vm_id)


def test_history_accumulates_then_statistics_are_zeroed_when_the_vm_stops(stack: Stack) -> None:
    vm_id = str(wait_for(lambda: _running_vm_with_nics(stack, "host-0003"), timeout=60, interval=0.2,
                         what="a VM with NICs"))
    # NIC rates need two of VDSM's samples (one every 15 s of the simulator's ticks), CPU one per cycle.
    wait_for(lambda: (u := _stored(stack, vm_id)[1]) is not None and len(u.cpu_usage_history) >= 3
             and len(u.network_usage_history) >= 2, timeout=60, interval=0.2, what="usage samples")
    stored, usage = _stored(stack, vm_id)
    assert usage is not None
    _, stats = stored
    assert stats.vcpu_count and stats.vcpu_count >= 1
    assert usage.usage_cpu_percent == min(100, int((stats.cpu_user + stats.cpu_sys) / stats.vcpu_count))
    assert usage.cpu_usage_history[-1] == usage.usage_cpu_percent
    assert len(usage.memory_usage_history) >= 3 and usage.memory_usage_history[-1] == stats.mem_usage
    assert usage.nic_samples  # the counters the next NIC rates start from
    assert all(0 <= p <= 100 for p in usage.network_usage_history)  # percent of the NICs' speed

    stack.sim.stop(vm_id, by="admin")
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Down, timeout=30, what="stopped VM Down in the DB")
    stored, usage = _stored(stack, vm_id)
    assert stored is not None and stored[1] == VmStats()
    assert usage == VmUsage()
