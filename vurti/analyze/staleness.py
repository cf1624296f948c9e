"""Which reports, and which VMs inside a report, are too old to apply.

Two levels, as oVirt's VmManager.isLatestData and the design's "a stale or duplicated
report never overwrites newer state":

- A whole report is ordered by the engine's `fetched_at`: older than the newest applied
  report -> stale; equal -> the same report delivered again -> nothing to do.
- A VM inside a report is ordered by the agent's own `statusTime`, compared only with
  the last timestamp applied from the *same* host (each host has its own monotonic
  clock); a report from another host is never stale. When a host reboots its clock
  restarts, so its stored timestamps are forgotten (`forget_host_clock`).
"""

from __future__ import annotations

from enum import Enum

from vurti.domain.model import HostState, VmState, evolve
from vurti.domain.report import HostReport, VmReport


class Freshness(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # this very report was applied already
    STALE = "stale"  # a newer report was applied already


def report_freshness(state: HostState, report: HostReport) -> Freshness:
    if state.last_report_at is None or report.fetched_at > state.last_report_at:
        return Freshness.NEW
    if report.fetched_at == state.last_report_at:
        return Freshness.DUPLICATE
    return Freshness.STALE


def vm_report_is_stale(vm: VmState, reported: VmReport, host_id: str) -> bool:
    """True when this host already gave us a report at least as new for this VM."""
    return (
        reported.status_time is not None
        and vm.status_time is not None
        and vm.status_time_host == host_id
        and reported.status_time <= vm.status_time
    )


def forget_host_clock(vms: dict[str, VmState], host_id: str) -> None:
    """After a reboot of `host_id`, its earlier statusTime values mean nothing."""
    for vm_id, vm in vms.items():
        if vm.status_time_host == host_id:
            vms[vm_id] = evolve(vm, status_time=None, status_time_host=None)


def stamp(before: VmState, after: VmState, reported: VmReport, host_id: str) -> VmState:
    """Remember the report's statusTime when it was applied to this VM.

    Applied means: it changed the VM, or the VM is (now) on the reporting host.
    Reports that were ignored (a migration destination's copy, a leftover Down
    record) leave the VM untouched.
    """
    if reported.status_time is None:
        return after
    if after.host_id != host_id and (after == before or _only_evidence_kept(before, after)):
        return after
    return evolve(after, status_time=reported.status_time, status_time_host=host_id)


def _only_evidence_kept(before: VmState, after: VmState) -> bool:
    """A Down record here of a VM running elsewhere, kept as evidence only (lifecycle.py)."""
    return after.down_seen_at != before.down_seen_at and after == evolve(
        before, down_seen_on_host=after.down_seen_on_host, down_seen_at=after.down_seen_at
    )
