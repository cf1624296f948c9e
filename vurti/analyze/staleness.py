"""Which reports, and which VMs inside a report, are too old to apply.

Two levels, as oVirt's VmManager.isLatestData and the design's "a stale or duplicated
report never overwrites newer state":

- A whole report is ordered by the engine's `fetched_at`: older than the newest applied
  report -> stale; equal -> the same report delivered again -> nothing to do.
- A VM inside a report is ordered by the agent's own `statusTime`, compared only with
  the last timestamp applied from the *same* host (each host has its own monotonic
  clock). A report from another host is ordered by the engine's time: fetched before
  the VM's newest data arrived, it is older. When a host reboots its clock restarts,
  so its stored timestamps are forgotten (`forget_host_clock`).
- A VM's absence from a full list has no statusTime. It is ordered by the engine's time:
  a list fetched before the VM's newest applied data arrived (a pushed event that
  overtook the poll's update) cannot say the VM disappeared (oVirt skips a VM "whose
  data has changed since fetching"). The next poll can.
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


def vm_report_is_stale(vm: VmState, reported: VmReport, report: HostReport) -> bool:
    """True when newer data of this VM was applied already.

    From the host whose clock the VM keeps: by that clock (statusTime). From another host,
    whose clock means nothing here: by the engine's, as oVirt skips a VM "whose data has
    changed since fetching" (a report fetched before the VM's newest data arrived; one
    fetched at the same moment, by the same batch of polls, is not older).
    """
    if vm.status_time_host == report.host_id:
        return reported.status_time is not None and vm.status_time is not None and reported.status_time <= vm.status_time
    return vm.status_fetched_at is not None and report.fetched_at < vm.status_fetched_at


def absence_is_stale(vm: VmState, report: HostReport) -> bool:
    """True when the VM's newest applied data arrived after this full list was fetched, or with it
    (unlike a report, an absence fetched by the same batch as the VM's data is not trusted: the
    next poll decides, since disappearing ends the VM)."""
    return vm.status_fetched_at is not None and vm.status_fetched_at >= report.fetched_at


def forget_host_clock(vms: dict[str, VmState], host_id: str) -> None:
    """After a reboot of `host_id`, its earlier statusTime values mean nothing."""
    for vm_id, vm in vms.items():
        if vm.status_time_host == host_id:
            vms[vm_id] = evolve(vm, status_time=None, status_time_host=None)


def stamp(before: VmState, after: VmState, reported: VmReport, report: HostReport) -> VmState:
    """Remember the report's statusTime and engine time when it was applied to this VM.

    The VM's clock is the clock of the host it runs on, or ran on until this report:
    a report from a host the VM was not and is not on (a migration's destination
    learnt, a leftover Down record, evidence kept) leaves it alone. Otherwise a
    destination's clock would replace the source's, and an older report of the
    source, queued meanwhile, could no longer be told from a newer one.
    """
    if reported.status_time is None:
        return after
    host_id = report.host_id
    if host_id not in (before.host_id, after.host_id):
        return after
    return evolve(after, status_time=reported.status_time, status_time_host=host_id, status_fetched_at=report.fetched_at)

