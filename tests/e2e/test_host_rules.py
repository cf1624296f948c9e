"""End to end, the host rules through the simulator: usage over thresholds (flood-regulated
alerts), a required network's NIC down, capabilities changed while Up, maintenance.

Real processes (the `stack` fixture): the simulator's control API sets each host's
condition, and the tests wait, by condition, for vurti's database and audit log.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Stack
from tests.support.procs import wait_for
from vurti.domain.admin import AdminAction
from vurti.domain.status import HostStatus, VmStatus
from vurti.inventory import set_cluster

DATABASES = ("postgresql",)  # the rules on one database (tests/e2e/conftest.py)

STACK_ENV = {"VURTI_NIC_DOWN_GRACE": "2"}  # seconds a required network's NIC may stay down (oVirt: 60)


def _lines(stack: Stack, host: str, event_type: str) -> list[Any]:
    return [e for e in stack.host_audit(host) if e.event_type == event_type]


def _stats_written_at(stack: Stack, host: str) -> float:
    with stack.svc.uow() as uow:
        found = uow.hosts.get_host_stats(stack.host_id(host))
    return found[0] if found is not None else 0.0


def _statistics_cycles(stack: Stack, host: str, count: int) -> None:
    """Wait until the host's statistics were written `count` more times."""
    for _ in range(count):
        before = _stats_written_at(stack, host)
        wait_for(lambda b=before: _stats_written_at(stack, host) > b, timeout=30, what="a statistics cycle")


ALERTS = {  # what each alert's audit line says
    "cpu": "CPU usage",
    "memory": "memory usage",
    "low_swap": "free swap",
    "disk_critical": "critically low disk space",
    "network": "interface eno1 uses",
}


def test_usage_over_thresholds_raises_each_alert_once_per_flood_period(stack: Stack) -> None:
    stack.sim.set_usage("host-0001", cpu=99, mem_used=97, swap_free=10, disk_free=300, nic_load={"eno1": 99})
    try:
        def alerts() -> dict[str, int]:
            lines = [e.message for e in _lines(stack, "host-0001", "HostThresholdExceeded")]
            return {alert: sum(words in m for m in lines) for alert, words in ALERTS.items()}

        wait_for(lambda: all(alerts().values()), timeout=60, what=f"every alert audited ({alerts()})")
        _statistics_cycles(stack, "host-0001", 3)  # still over: the flood regulator holds them back
        assert alerts() == dict.fromkeys(ALERTS, 1)
        critical = next(e for e in _lines(stack, "host-0001", "HostThresholdExceeded") if "critically" in e.message)
        assert critical.severity == "error"
    finally:
        stack.sim.set_usage("host-0001", cpu=None, mem_used=None, swap_free=None, disk_free=None, nic_load=None)


def test_required_network_nic_down_makes_the_host_non_operational_until_it_is_up(stack: Stack) -> None:
    cluster = stack.svc.resolve_host("host-0002")
    assert cluster is not None
    with stack.svc.uow() as uow:
        found = uow.hosts.get_cluster(cluster.cluster_id)
    assert found is not None
    set_cluster(stack.svc, found.name, required_networks=("ovirtmgmt",))
    try:
        stack.sim.set_nic("host-0002", "eno1", "down")  # the bridge ovirtmgmt's port
        wait_for(lambda: stack.host_status("host-0002") is HostStatus.NonOperational, timeout=60,
                 what="host NonOperational")
        with stack.svc.uow() as uow:
            state = uow.hosts.get_host_state(stack.host_id("host-0002"))
        assert state is not None and state.status_reason is not None and "eno1 (ovirtmgmt)" in state.status_reason
        wait_for(lambda: any("eno1 changed from up to down" in e.message
                             for e in _lines(stack, "host-0002", "HostNicStateChanged")),
                 timeout=20, what="NIC state change audited")
        _statistics_cycles(stack, "host-0002", 2)  # re-checked with the NIC still down: stays
        assert stack.host_status("host-0002") is HostStatus.NonOperational
        stack.sim.set_nic("host-0002", "eno1", "up")
        wait_for(lambda: stack.host_status("host-0002") is HostStatus.Up, timeout=60, what="host Up again")
    finally:
        stack.sim.set_nic("host-0002", "eno1", "up")
        set_cluster(stack.svc, found.name, required_networks=())


def test_capabilities_changed_while_up_are_checked_again(stack: Stack) -> None:
    started = time.monotonic()
    stack.sim.set_capabilities("host-0003", kvm_enabled=False, selinux_mode=-1)  # the host hints |net|host_conn|
    try:
        wait_for(lambda: stack.host_status("host-0003") is HostStatus.NonOperational, timeout=60,
                 what="host NonOperational")
        # Read on the next poll after the hint, not on some later routine refresh.
        assert time.monotonic() - started < 15
        wait_for(lambda: _lines(stack, "host-0003", "HostNonOperational"), timeout=20, what="events audited")
        assert [e.message for e in _lines(stack, "host-0003", "HostCapabilitiesChanged")] == [
            "Host host-0003 capabilities changed (KVM); cluster checks ran again"]
        assert any("KVM is not enabled" in e.message for e in _lines(stack, "host-0003", "HostNonOperational"))
        # NonOperational, its capabilities are read every poll: SELinux is told once (an hour).
        _statistics_cycles(stack, "host-0003", 2)
        assert len(_lines(stack, "host-0003", "HostSelinuxNotEnforcing")) == 1
    finally:
        stack.sim.set_capabilities("host-0003", kvm_enabled=None, selinux_mode=None)
    wait_for(lambda: stack.host_status("host-0003") is HostStatus.Up, timeout=60, what="host Up again")


def test_maintenance_waits_for_the_last_vm_to_leave(stack: Stack) -> None:
    host_id = stack.host_id("host-0001")
    running = [v["vm_id"] for v in stack.sim.vms("host-0001") if v["truth"]["host"] == "host-0001"]
    assert running
    outcome = stack.svc.update.administer(host_id, AdminAction.MAINTENANCE)
    assert outcome.applied and outcome.status == "PreparingForMaintenance"
    _statistics_cycles(stack, "host-0001", 2)  # VMs still there: still preparing
    assert stack.host_status("host-0001") is HostStatus.PreparingForMaintenance
    first, *others = running
    stack.sim.migrate(first, to="host-0003", mode="precopy", steps=2)
    for vm_id in others:
        stack.sim.stop(vm_id)
    wait_for(lambda: stack.host_status("host-0001") is HostStatus.Maintenance, timeout=60, what="host Maintenance")
    assert stack.vm(first).host_id == stack.host_id("host-0003")
    assert all(stack.vm(vm_id).status is VmStatus.Down for vm_id in others)
    wait_for(lambda: _lines(stack, "host-0001", "HostMaintenanceReached"), timeout=20, what="maintenance audited")
    outcome = stack.svc.update.administer(host_id, AdminAction.ACTIVATE)
    assert outcome.applied and outcome.status == "Unassigned"
    wait_for(lambda: stack.host_status("host-0001") is HostStatus.Up, timeout=60, what="host Up after activation")
