"""Checks on a VM running on the reporting host: watchdog, guest memory, balloon, NICs.

oVirt: VmAnalyzer.proceedWatchdogEvents, proceedBalloonCheck, the guest memory and
guest NIC updates. Each check warns on a *transition* only and remembers what it saw
in VmState, so a steady condition does not flood the audit log.
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.domain.events import BalloonNotWorking, GuestMemoryLow, VmNicStateChanged, WatchdogEvent
from vurti.domain.model import VmState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import VmReport, VmStats

# A balloon off target on this many consecutive statistics samples is not working.
BALLOON_MISSES_TO_WARN = 2


def run_checks(work: Work, vm: VmState, reported: VmReport, policy: MonitoringPolicy) -> VmState:
    vm = check_watchdog(work, vm, reported)
    if reported.stats is not None:
        vm = check_guest_memory(work, vm, reported.stats, policy)
        vm = check_balloon(work, vm, reported.stats, policy)
        vm = check_nics(work, vm, reported.stats)
    return vm


def check_watchdog(work: Work, vm: VmState, reported: VmReport) -> VmState:
    """isNewWatchdogEvent: a watchdog time newer than the last one seen."""
    watchdog = reported.watchdog
    if watchdog is None:
        return vm
    if vm.last_watchdog_time is not None and watchdog.time <= vm.last_watchdog_time:
        return vm
    work.emit(WatchdogEvent, vm_id=vm.vm_id, vm_name=vm.name, action=watchdog.action or "", event_time=watchdog.time)
    return evolve(vm, last_watchdog_time=watchdog.time)


def check_guest_memory(work: Work, vm: VmState, stats: VmStats, policy: MonitoringPolicy) -> VmState:
    free, total = stats.guest_mem_free, stats.guest_mem_total
    if free is None or not total:
        return vm  # no guest agent figures this sample: remember the last verdict
    low = free * 100.0 / total < policy.guest_mem_low_percent
    if low and not vm.guest_mem_low:
        work.emit(GuestMemoryLow, vm_id=vm.vm_id, vm_name=vm.name, free_kib=free, total_kib=total)
    return evolve(vm, guest_mem_low=low)


def check_balloon(work: Work, vm: VmState, stats: VmStats, policy: MonitoringPolicy) -> VmState:
    """The balloon must reach its target within a statistics cycle (proceedBalloonCheck)."""
    current, target = stats.balloon_cur, stats.balloon_target
    if current is None or target is None:
        return vm
    if abs(target - current) <= policy.balloon_tolerance_kib:
        return evolve(vm, balloon_misses=0)
    misses = min(vm.balloon_misses + 1, BALLOON_MISSES_TO_WARN)
    if misses == BALLOON_MISSES_TO_WARN and vm.balloon_misses < BALLOON_MISSES_TO_WARN:
        work.emit(BalloonNotWorking, vm_id=vm.vm_id, vm_name=vm.name, target_kib=target, current_kib=current)
    return evolve(vm, balloon_misses=misses)


def check_nics(work: Work, vm: VmState, stats: VmStats) -> VmState:
    """A NIC whose link state changed since the last sample; new NICs are just recorded.

    A sample without NICs (libvirt has no samples yet) keeps what we knew.
    """
    if not stats.nics:
        return vm
    old = dict(vm.nic_states)
    new = tuple(sorted({nic.name: nic.state for nic in stats.nics}.items()))
    for name, state in new:
        if name in old and old[name] != state:
            work.emit(VmNicStateChanged, vm_id=vm.vm_id, vm_name=vm.name, nic=name, old=old[name], new=state)
    return evolve(vm, nic_states=new)
