"""A VM reported running on the host the stored state says it runs on.

oVirt: VmAnalyzer.updateRepository / afterMigrationFrom / logVmStatusTransition:
status transitions with their audit reasons, migration started / failed / ended
seen from this host, NotResponding and Paused audits, runtime fields, checks.
"""

from __future__ import annotations

from vurti.analyze._work import Work, hand_over, migration_ended
from vurti.analyze.checks import run_checks
from vurti.domain.events import VmMigrationFailed, VmMigrationStarted, VmNotResponding, VmPaused
from vurti.domain.model import OperationKind, VmState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import VmStatus

POSTCOPY = "POSTCOPY"
# Pause codes that are not errors (VmPauseStatus.isError() is false for these).
NON_ERROR_PAUSE_CODES = frozenset({"", "NOERR", "NONE", POSTCOPY})


def is_postcopy(reported: VmReport) -> bool:
    return reported.status == VmStatus.Paused and reported.pause_code == POSTCOPY


def effective_status(reported: VmReport, stored: VmState | None = None, host_id: str | None = None) -> VmStatus | None:
    """The engine status a VM report stands for.

    A stuck qemu monitor (monitorResponse -1) is NotResponding. A report without
    monitorResponse (the short list, a push) says nothing about the monitor: a VM
    stored NotResponding on the reporting host stays so until a report carries it.
    A VM Paused with pauseCode POSTCOPY is the source of a post-copy migration whose
    destination already runs the VM: a migration source, not a paused VM (never destroyed).
    """
    status = reported.status
    if is_postcopy(reported):
        return VmStatus.MigratingFrom
    if status is None or status == VmStatus.Down:
        return status
    if reported.monitor_response is None:
        if stored is not None and stored.status == VmStatus.NotResponding and stored.host_id == host_id:
            return VmStatus.NotResponding
        return status
    return VmStatus.NotResponding if reported.monitor_response < 0 else status


def transition_reason(old: VmState, new_status: VmStatus) -> str | None:
    """The reasons oVirt audits for a status transition on the VM's own host."""
    if old.status == new_status:
        return None
    if old.status == VmStatus.Unknown:
        return "restored from unknown"
    if old.status == VmStatus.PoweringDown and new_status == VmStatus.Up:
        return "power down failed"
    paused_on_error = old.status == VmStatus.Paused and (old.pause_code or "") not in NON_ERROR_PAUSE_CODES
    if paused_on_error and new_status == VmStatus.Up:
        return "recovered from error"
    if new_status == VmStatus.RebootInProgress:
        return "guest reboot"
    if old.status == VmStatus.MigratingFrom:
        return "migration failed"
    return None


def apply_runtime(vm: VmState, reported: VmReport, status: VmStatus, report: HostReport) -> VmState:
    """A full poll replaces the runtime fields (a missing field means empty); the short
    list (Host.getVMList) and pushed events change only what they carry."""
    replaces = report.vms_full and not report.partial

    def pick(new: str | None, old: str | None) -> str | None:
        return new if replaces or new is not None else old

    if status != VmStatus.Paused:
        pause_code = None
    else:
        pause_code = pick(reported.pause_code, vm.pause_code if vm.status == VmStatus.Paused else None)
    return evolve(
        vm,
        name=vm.name or reported.name or "",
        pause_code=pause_code,
        client_ip=pick(reported.client_ip, vm.client_ip),
        guest_ips=pick(reported.guest_ips, vm.guest_ips),
        hash=pick(reported.hash, vm.hash),
    )


def accept_running(
    work: Work,
    previous: VmState,
    moved: VmState,
    reported: VmReport,
    status: VmStatus,
    report: HostReport,
    policy: MonitoringPolicy,
    reason: str | None,
) -> VmState:
    """Take the report as the truth for a VM on this host.

    `previous` is the stored state (for the audits), `moved` the same VM with its
    host and migration fields already settled by the caller.
    """
    # A VM accepted running has no exit data (it may keep the source's "migration succeeded").
    moved = evolve(moved, host_id=work.host_id, status=status, exit_code=None, exit_reason=None, exit_message=None)
    new = apply_runtime(moved, reported, status, report)
    work.status_changed(previous, new, reason)
    if status == VmStatus.NotResponding and previous.status != VmStatus.NotResponding:
        work.emit(VmNotResponding, vm_id=new.vm_id, vm_name=new.name)
    if status == VmStatus.Paused and (previous.status != VmStatus.Paused or previous.pause_code != new.pause_code):
        work.emit(VmPaused, vm_id=new.vm_id, vm_name=new.name, pause_code=new.pause_code or "")
    return run_checks(work, new, reported, policy)


def on_own_host(
    work: Work, vm: VmState, reported: VmReport, status: VmStatus, report: HostReport, policy: MonitoringPolicy
) -> VmState:
    """`vm.host_id` is the reporting host and the report is not Down."""
    if is_postcopy(reported) and vm.migrating_to_host is not None:
        # Post-copy's pause on the source is the hand-over: the destination runs the VM now.
        return hand_over(work, vm, vm.migrating_to_host, "post-copy")
    moved = vm
    reason = transition_reason(vm, status)
    if status == VmStatus.MigratingFrom and vm.status != VmStatus.MigratingFrom:
        op = work.operations.get(vm.vm_id)
        if vm.migrating_to_host is None and op is not None and op.kind is OperationKind.MIGRATE:
            moved = evolve(moved, migrating_to_host=op.destination_host_id)  # the engine said where it goes
        work.emit(VmMigrationStarted, vm_id=vm.vm_id, vm_name=vm.name, destination_host_id=moved.migrating_to_host,
                  destination_host_name=work.name_of(moved.migrating_to_host) if moved.migrating_to_host else "")
    elif vm.status == VmStatus.MigratingFrom and status != VmStatus.MigratingFrom:
        # afterMigrationFrom: the source runs it again -> the migration failed.
        work.emit(VmMigrationFailed, vm_id=vm.vm_id, vm_name=vm.name, destination_host_id=vm.migrating_to_host,
                  destination_host_name=work.name_of(vm.migrating_to_host) if vm.migrating_to_host else "")
        moved = evolve(moved, migrating_to_host=None)
    if vm.migrating_from_host is not None and status not in (VmStatus.MigratingTo, VmStatus.Unknown):
        # Handed over earlier; the destination now runs it.
        reason = migration_ended(work, vm, vm.migrating_from_host)
        moved = evolve(moved, migrating_from_host=None)
    return accept_running(work, vm, moved, reported, status, report, policy, reason)
