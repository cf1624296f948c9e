"""Maintenance (HostMonitoring.moveVDSToMaintenanceIfNeeded, VirtMonitoringStrategy.canMoveToMaintenance)
and the administrator's requests that start and end it.

An administrator's request moves the host to PreparingForMaintenance (its VMs are to
leave: migrated or stopped elsewhere); monitoring moves it on to Maintenance once no
VM is left on it: none stored as running there and, when the report has statistics,
VDSM counting none (vmCount). Maintenance hosts are not monitored. Activating one
makes it Unassigned, so monitoring checks it again (capabilities, cluster) before Up.
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.analyze.host import set_status
from vurti.domain.admin import AdminAction
from vurti.domain.analysis import Analysis
from vurti.domain.events import HostMaintenanceReached
from vurti.domain.model import HostSnapshot, HostState, evolve
from vurti.domain.report import HostReport
from vurti.domain.status import HostStatus

# Hosts an installer owns: no maintenance request while these run.
NOT_NOW = frozenset({HostStatus.Installing, HostStatus.InstallingOS, HostStatus.Reboot, HostStatus.Kdumping})
IN_MAINTENANCE = frozenset({HostStatus.Maintenance, HostStatus.PreparingForMaintenance})


class RequestRefused(ValueError):
    """A request the host's status does not allow; the message says why."""


def maintenance_reached(work: Work, state: HostState, report: HostReport) -> HostState:
    """PreparingForMaintenance -> Maintenance once no VM is left on the host."""
    if state.status != HostStatus.PreparingForMaintenance or report.vms is None or report.partial:
        return state
    if work.running_here() or (report.stats is not None and report.stats.vm_count > 0):
        return state
    state = set_status(work, state, HostStatus.Maintenance, "no VM left on the host")
    work.emit(HostMaintenanceReached)
    return evolve(state, nics_down_since=None)


def administer(snapshot: HostSnapshot, action: AdminAction, now: float) -> Analysis:
    """The state change an administrator's request makes; an empty Analysis when the host is
    already where it was asked to be. Raises RequestRefused."""
    state = snapshot.state
    work = Work(host_id=snapshot.config.id, now=now, vms=dict(snapshot.vms), host_statuses=snapshot.host_statuses)
    if action is AdminAction.MAINTENANCE:
        if state.status in IN_MAINTENANCE:
            return Analysis()
        if state.status in NOT_NOW:
            raise RequestRefused(f"host {snapshot.config.name} is {state.status.name}: no maintenance now")
        new = set_status(work, state, HostStatus.PreparingForMaintenance, "maintenance requested by an administrator")
    else:
        if state.status not in IN_MAINTENANCE:
            raise RequestRefused(f"host {snapshot.config.name} is {state.status.name}, not in maintenance")
        new = set_status(work, state, HostStatus.Unassigned, "activated by an administrator")
        new = evolve(new, unanswered_attempts=0, nics_down_since=None)
    return Analysis(host=new, events=tuple(evolve(e, host_name=snapshot.config.name) for e in work.events))
