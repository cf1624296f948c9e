"""VM analysis of one report: each reported VM, then the VMs that disappeared.

oVirt: VmsMonitoring / VmAnalyzer.analyze, in its order: disappeared, unknown to the
engine (external), Down, reported on another host, reported on the expected host.
A report's VM list is full unless `report.partial` (a push): then absent VMs are
simply not known, never disappeared.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from vurti.analyze._work import Work
from vurti.analyze.devices import refresh_devices
from vurti.analyze.jobs import jobs_of_stopped, track_jobs
from vurti.analyze.lifecycle import disappeared, discovered, down_reported
from vurti.analyze.migration import on_other_host
from vurti.analyze.running import effective_status, on_own_host
from vurti.analyze.staleness import absence_is_stale, stamp, vm_report_is_stale
from vurti.analyze.usage import sample
from vurti.domain.events import InvalidVmData, VmAnalysisFailed
from vurti.domain.model import VmState, VmUsage, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmReport, VmStats
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus

log = logging.getLogger(__name__)


_NO_USAGE = VmUsage()


def analyze_vms(
    work: Work,
    reported_vms: tuple[VmReport, ...],
    report: HostReport,
    policy: MonitoringPolicy,
    usage: Mapping[str, VmUsage],
) -> list[tuple[str, VmStats, VmUsage]]:
    """Update `work.vms`; return the statistics to save (only on statistics cycles), each
    with the VM's usage after it (`usage`: the stored one)."""
    seen: set[str] = set()
    stats: list[tuple[str, VmStats, VmUsage]] = []
    for reported in reported_vms:
        if reported.vm_id in seen:
            work.emit(InvalidVmData, vm_id=reported.vm_id, problem="VM reported twice in one report")
            continue
        seen.add(reported.vm_id)
        before = work.vms.get(reported.vm_id)
        vm = analyze_isolated(work, reported, report, policy)
        if (
            vm is not None
            and reported.stats is not None
            and report.stats_due
            and report.vms_full
            and vm.host_id == work.host_id
            and vm.status in RUNNING_VM_STATUSES
        ):
            previous = usage.get(vm.vm_id, _NO_USAGE)
            if previous.nic_samples and (before is None or before.host_id != work.host_id):
                previous = evolve(previous, nic_samples=())  # counters of another host's clock (a migration)
            stats.append((vm.vm_id, *sample(reported.stats, previous, policy.usage_history_limit)))
    if not report.partial:
        for vm in work.running_here():
            if vm.vm_id in seen:
                continue
            if absence_is_stale(vm, report):
                log.debug("host %s: VM %s absent from a list older than its data, kept", work.host_id, vm.vm_id)
                continue
            work.vms[vm.vm_id] = disappeared(work, vm)
    for vm_id, vm in list(work.vms.items()):
        if vm.jobs:
            work.vms[vm_id] = jobs_of_stopped(work, vm)
    return stats


def analyze_isolated(work: Work, reported: VmReport, report: HostReport, policy: MonitoringPolicy) -> VmState | None:
    """One VM's analysis fails alone (VmAnalyzer: "fail in isolated way"): its partial
    events and commands are dropped, its state kept, and the others go on."""
    events, commands = len(work.events), len(work.commands)
    saved, removed = len(work.devices_saved), len(work.devices_removed)
    try:
        vm = analyze_reported(work, reported, report, policy)
        return devices_and_jobs(work, vm, reported) if vm is not None else None
    except Exception as exc:  # a rule bug or data no rule foresaw must not stop the host's monitoring
        del work.events[events:], work.commands[commands:]
        del work.devices_saved[saved:], work.devices_removed[removed:]
        # A bug, not bad agent data (that is an InvalidVmData without raising): keep its traceback.
        log.exception("host %s, VM %s: analysis failed; the VM's state is kept", work.host_id, reported.vm_id)
        work.emit(VmAnalysisFailed, vm_id=reported.vm_id, error=repr(exc))
        return None


def devices_and_jobs(work: Work, vm: VmState, reported: VmReport) -> VmState:
    """Block jobs of a VM running on this host; its devices when this poll read them."""
    if vm.host_id == work.host_id and vm.status in RUNNING_VM_STATUSES:
        vm = track_jobs(work, vm, reported.jobs)
        work.vms[vm.vm_id] = vm
    if reported.devices is not None and vm.status != VmStatus.Down:
        refresh_devices(work, vm, reported.devices, work.stored_devices.get(vm.vm_id, ()))
    return vm


def analyze_reported(work: Work, reported: VmReport, report: HostReport, policy: MonitoringPolicy) -> VmState | None:
    """One reported VM; returns its state after the analysis (None: not known/accepted)."""
    vm = work.vms.get(reported.vm_id)
    if vm is not None and vm_report_is_stale(vm, reported, report):
        return None
    status = effective_status(reported, vm, work.host_id)
    if status is None:
        problem = reported.problem or f"unknown status {reported.vdsm_status!r}"
        work.emit(InvalidVmData, vm_id=reported.vm_id, problem=problem)
        return None
    if vm is None:
        new = discovered(work, reported, status, report, policy)
        if new is None:
            return None
        new = stamp(VmState(vm_id=new.vm_id), new, reported, report)
        work.vms[new.vm_id] = new
        return new
    if status == VmStatus.Down:
        new = down_reported(work, vm, reported)
    elif vm.host_id == work.host_id:
        new = on_own_host(work, vm, reported, status, report, policy)
    else:
        new = on_other_host(work, vm, reported, status, report, policy)
    if status != VmStatus.Down and new.host_id == work.host_id and new.down_seen_on_host is not None:
        new = evolve(new, down_seen_on_host=None, down_seen_at=None)  # it runs here: no longer evidence
    new = stamp(vm, new, reported, report)
    work.vms[new.vm_id] = new
    return new
