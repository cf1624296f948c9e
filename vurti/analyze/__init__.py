"""Analyzers: oVirt's HostMonitoring / VmAnalyzer rules as pure functions.

`analyze(snapshot, report, now, policy)` compares one host's stored state with one
report from its agent and returns an Analysis: the changed host and VM states, the
events, the commands for the host (DestroyVm) and the statistics to save. No I/O,
no clock reads: `now` is an argument. docs/rules.md maps each oVirt rule to the
function implementing it and to its test.

Modules: host (reachability, grace, recovery, cluster checks), vms (per-report VM
orchestration), lifecycle (external, Down, disappeared, Unknown), running (a VM on
its own host), migration (a VM reported by another host), checks (watchdog,
memory, balloon, NICs), nic_rates (NIC rates from two samples of counters),
ha (restart requests of highly available VMs), fencing (fencing requests, VMs
with a lease), operations (engine-started runs and migrations settled),
devices (a VM's device list read again after its hash changed), jobs (block jobs),
maintenance (PreparingForMaintenance -> Maintenance, an administrator's requests),
thresholds + flood (usage alerts, flood-regulated), host_network + nic_state
(NIC state changes, required networks' NICs down), usage (CPU per vCPU, usage histories,
statistics zeroed on stop), staleness, apply (fold an
Analysis into a snapshot).
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.analyze.apply import apply_analysis
from vurti.analyze.fencing import restart_leased
from vurti.analyze.ha import request_restarts
from vurti.analyze.host import analyze_host
from vurti.analyze.host_network import check_host_network
from vurti.analyze.lifecycle import lost_with_host
from vurti.analyze.maintenance import administer, maintenance_reached
from vurti.analyze.nic_rates import nic_rates
from vurti.analyze.operations import settle_operations
from vurti.analyze.staleness import Freshness, forget_host_clock, report_freshness
from vurti.analyze.thresholds import check_thresholds
from vurti.analyze.usage import STOPPED
from vurti.analyze.vms import analyze_vms
from vurti.domain.analysis import Analysis
from vurti.domain.model import HostSnapshot, VmState, VmUsage, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmStats
from vurti.domain.status import VmStatus

__all__ = ["administer", "analyze", "apply_analysis"]


def analyze(snapshot: HostSnapshot, report: HostReport, now: float, policy: MonitoringPolicy) -> Analysis:
    """One report against the stored state of its host.

    A report older than the newest applied one is stale (Analysis(stale=True)); the
    newest one delivered again is a duplicate and yields an empty Analysis, so
    redelivery is harmless. A report for another host is treated as stale.
    """
    host_id = snapshot.config.id
    if report.host_id != host_id:
        return Analysis(stale=True)
    # A pushed event (partial) is ordered per VM by the host's clock alone (statusTime and
    # notify_time share it): it neither competes with polls by fetch time nor moves it.
    pushed = report.partial and report.error is None
    freshness = Freshness.NEW if pushed else report_freshness(snapshot.state, report)
    if freshness is Freshness.STALE:
        return Analysis(stale=True)
    if freshness is Freshness.DUPLICATE:
        return Analysis()

    work = Work(
        host_id=host_id,
        now=now,
        vms=dict(snapshot.vms),
        host_statuses=snapshot.host_statuses,
        host_names={**snapshot.host_names, host_id: snapshot.config.name},
        operations=snapshot.operations,
        stored_devices=snapshot.devices,
    )
    outcome = analyze_host(work, snapshot, report, policy)
    state = outcome.state
    vm_stats: list[tuple[str, VmStats, VmUsage]] = []
    if outcome.rebooted:
        forget_host_clock(work.vms, host_id)
    if outcome.vms_unknown:
        lost_with_host(work)
        state = restart_leased(work, state, snapshot.cluster, policy)
    if outcome.analyse_vms and report.vms is not None:
        vm_stats = analyze_vms(work, report.vms, report, policy, snapshot.vm_usage)
        if not report.partial:
            state = evolve(state, vm_count=len(work.running_here()))

    changed = [vm for vm_id, vm in work.vms.items() if snapshot.vms.get(vm_id) != vm]
    if changed:
        request_restarts(work, ((snapshot.vms.get(vm.vm_id), vm) for vm in changed))
    ended: list[str] = []
    if snapshot.operations:
        ended = settle_operations(work, snapshot.vms, report.vms or ())

    if outcome.answered:
        state = maintenance_reached(work, state, report)
        if report.stats is not None:
            state = check_host_network(work, snapshot.cluster, state, report.stats, policy)
    host_stats = report.stats if outcome.answered and report.stats_due else None
    if host_stats is not None:
        nics, samples = nic_rates(host_stats.nics, state.nic_samples)
        state = evolve(state, nic_samples=samples)
        host_stats = evolve(host_stats, nics=nics)
        state = check_thresholds(work, snapshot.cluster, state, host_stats, policy)
    vm_stats.extend((vm.vm_id, *STOPPED) for vm in changed if _stopped(snapshot.vms.get(vm.vm_id), vm))
    return Analysis(
        host=state if state != snapshot.state else None,
        vms=tuple(changed),
        host_stats=host_stats,
        vm_stats=tuple((vm_id, stats) for vm_id, stats, _ in vm_stats),
        vm_usage=tuple((vm_id, usage) for vm_id, _, usage in vm_stats),
        events=tuple(evolve(e, host_name=snapshot.config.name) for e in work.events),
        commands=tuple(work.commands),
        ended_operations=tuple(ended),
        devices_saved=tuple(work.devices_saved),
        devices_removed=tuple(work.devices_removed),
    )


_STOPPED_STATUSES = frozenset({VmStatus.Down, VmStatus.Suspended})


def _stopped(old: VmState | None, new: VmState) -> bool:
    """A recorded VM that stopped running (Down, or Suspended by hibernation): its statistics are zeroed."""
    return old is not None and old.status not in _STOPPED_STATUSES and new.status in _STOPPED_STATUSES
