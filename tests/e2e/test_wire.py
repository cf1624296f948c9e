"""End to end against VDSM's wire behaviour: post-copy hand-over, agent recovery and restart.

Real processes (fixture `stack` in conftest.py), on SQLite and PostgreSQL. What
these pin down is the engine side of behaviour only real VDSM shows: the source
of a finished migration keeps a Down record (exitReason 4) until it is
destroyed, and an agent that restarts answers error 99 for a while and then
reports with a new clock. Crashed VMs are in test_pipeline.py; the wire format
of the simulator's replies is checked in tests/sim/test_protocol.py.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Stack
from tests.support.procs import wait_for
from vurti.domain.status import HostStatus, VmStatus


def _running_vm(stack: Stack, host: str) -> str:
    for vm in stack.sim.vms(host):
        if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host:
            return str(vm["vm_id"])
    raise AssertionError(f"no running VM on {host}")


def _vm_list(stack: Stack, host: str) -> list[dict[str, Any]]:
    """Host.getVMList as the engine sees it on the wire (over vurti's own link to the host)."""
    found = stack.svc.resolve_host(host)
    assert found is not None
    return list(stack.svc.agent.call(found.url, "Host.getVMList", {"onlyUUID": False}))


def _vms_on(stack: Stack, host: str) -> dict[str, tuple[VmStatus, str | None]]:
    host_id = stack.host_id(host)
    with stack.svc.uow() as uow:
        return {vm.vm_id: (vm.status, vm.host_id) for vm in uow.vms.list_vms(host_id)}


def _source_status(stack: Stack, vm_id: str, source: str) -> str | None:
    for rec in stack.sim.vm(vm_id)["records"]:
        if rec["host"] == source:
            return str(rec["status"])
    return None


def test_postcopy_migration_hands_over_without_vmdown_and_destroys_the_source_record(stack: Stack) -> None:
    vm_id = _running_vm(stack, "host-0002")
    source, dest = stack.host_id("host-0002"), stack.host_id("host-0003")
    allowed = {(VmStatus.Up, source), (VmStatus.MigratingFrom, source), (VmStatus.MigratingTo, dest),
               (VmStatus.Up, dest)}
    seen_while_postcopy: set[tuple[VmStatus, str | None]] = set()
    wrong: list[tuple[VmStatus, str | None]] = []

    def sample() -> str | None:
        sim_status = _source_status(stack, vm_id, "host-0002")
        vm = stack.vm(vm_id)
        if (vm.status, vm.host_id) not in allowed:
            wrong.append((vm.status, vm.host_id))
        if sim_status == "Paused":
            seen_while_postcopy.add((vm.status, vm.host_id))
        return sim_status

    # The post-copy phase (source Paused POSTCOPY) lasts 3 s: every host is polled in it.
    stack.sim.migrate(vm_id, to="host-0003", mode="postcopy", steps=2, postcopy_ticks=10)
    wait_for(lambda: sample() == "Paused", timeout=10, interval=0.1, what="post-copy phase on the source")
    wait_for(lambda: sample() != "Paused", timeout=20, interval=0.1, what="post-copy phase over")
    # Paused POSTCOPY is the migration's source, or its hand-over to the destination: never a paused VM.
    assert seen_while_postcopy and seen_while_postcopy <= allowed, (
        seen_while_postcopy, [f"{e.at:.2f} {e.event_type} {e}" for e in stack.audit(vm_id)])
    try:
        wait_for(lambda: sample() is None and stack.vm(vm_id).host_id == dest
                 and stack.vm(vm_id).status is VmStatus.Up,
                 timeout=40, interval=0.1, what="VM Up on the destination, source record gone")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; simulator: {stack.sim.vm(vm_id)}; DB: {stack.vm(vm_id)}; "
                             f"audit: {[str(e) for e in stack.audit(vm_id)]}; "
                             f"destroys: {[d for d in stack.sim.destroys() if d['vm_id'] == vm_id]}") from exc
    assert wrong == []
    wait_for(lambda: any(e.event_type == "VmMigrationEnded" for e in stack.audit(vm_id)), timeout=20,
             what="VmMigrationEnded audit")
    destroys = [d for d in stack.sim.destroys() if d["vm_id"] == vm_id]
    assert [(d["host"], d["found"], d["status"]) for d in destroys][:1] == [("host-0002", True, "Down")]
    assert all(d["host"] == "host-0002" for d in destroys)
    assert all(row["vmId"] != vm_id for row in _vm_list(stack, "host-0002"))
    assert any(row["vmId"] == vm_id and row["status"] == "Up" for row in _vm_list(stack, "host-0003"))
    vm = stack.vm(vm_id)
    assert (vm.status, vm.host_id) == (VmStatus.Up, dest)
    assert not any(e.event_type == "VmDown" for e in stack.audit(vm_id))
    assert stack.sim.truth()[vm_id] == {"host": "host-0003", "status": "Up"}


def _watch_recovery(stack: Stack, host: str, kind: str, seconds: float) -> tuple[list[HostStatus], list[str]]:
    """Inject `kind` and sample the host and its VMs until it went Initializing and came back Up.

    Returns the host statuses seen and every sample in which a VM of the host had
    changed its status or host (what the recovery must never do).
    """
    before = _vms_on(stack, host)
    assert before, f"no VMs on {host}"
    seen: list[HostStatus] = []
    drift: list[str] = []

    def sample(target: HostStatus) -> bool:
        status = stack.host_status(host)
        if not seen or seen[-1] is not status:
            seen.append(status)
        for vm_id, was in before.items():
            vm = stack.vm(vm_id)
            if (vm.status, vm.host_id) != was:
                drift.append(f"{vm_id}: {was[0].name} -> {vm.status.name} on {vm.host_id}")
        return status is target and (target is not HostStatus.Up or HostStatus.Initializing in seen)

    stack.sim.set_fault(host, kind, seconds=seconds)
    wait_for(lambda: sample(HostStatus.Initializing), timeout=20, interval=0.1, what=f"{host} Initializing")
    wait_for(lambda: sample(HostStatus.Up), timeout=seconds + 30, interval=0.1, what=f"{host} Up again")
    after = _vms_on(stack, host)
    assert after == before, (drift, [str(e) for e in stack.host_audit(host)][:30])
    return seen, drift


def test_recovering_agent_keeps_the_host_initializing_and_its_vms_as_they_are(stack: Stack) -> None:
    seen, drift = _watch_recovery(stack, "host-0001", "recovering", seconds=4)
    assert HostStatus.Connecting not in seen and HostStatus.NonResponsive not in seen, seen
    assert drift == []
    events = [e.event_type for e in stack.host_audit("host-0001")]
    assert "HostRecovering" in events
    assert "AgentError" not in events


def test_agent_restart_changes_nothing_about_the_vms(stack: Stack) -> None:
    host = "host-0003"
    seen, drift = _watch_recovery(stack, host, "restart", seconds=3)
    assert HostStatus.Connecting not in seen and HostStatus.NonResponsive not in seen, seen
    assert drift == []
    wait_for(lambda: any(e.event_type == "HostRebooted" for e in stack.host_audit(host)), timeout=10,
             what="HostRebooted audit")
    # The restarted agent's clock starts again from a lower base: its reports must
    # still be applied, not dropped as older than the ones before the restart.
    vm_id = _running_vm(stack, host)
    stack.sim.pause(vm_id)
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Paused, timeout=20, what="pause after the restart seen")
    stack.sim.resume(vm_id)
    wait_for(lambda: stack.vm(vm_id).status is VmStatus.Up, timeout=20, what="resume after the restart seen")
