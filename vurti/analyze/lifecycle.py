"""VMs that appear, go Down, disappear, or are lost with their host.

oVirt: VmAnalyzer.proceedDownVm, proceedDisappearedVm, processUnmanagedVm (external
VMs) and VdsManager's move of a NonResponsive host's VMs to Unknown.

Down records (wire: a Down VM stays in the host's list until VM.destroy): the first
time one is seen on the VM's own host it is recorded and the VM leaves the host
(host_id None, as oVirt clears run_on_vds). Every later sighting of a Down record is
then "not this host's VM" and only asks for DestroyVm again: the command is repeated
on every report that still shows the record, and the pipeline dedupes it by
`DestroyVm.key` while one is in flight, so a failed destroy is retried.
"""

from __future__ import annotations

from vurti.analyze._work import Work, hand_over, left_by_migration
from vurti.analyze.running import apply_runtime
from vurti.domain.events import ExternalVmDiscovered, VmDisappeared, VmDown, VmMigrationAborted
from vurti.domain.exits import ExitCode, ExitReason
from vurti.domain.model import VmState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus

NOT_FOUND = "Could not find VM on host, assuming it went down unexpectedly"


def to_down(vm: VmState, code: int | None, reason: int | None, message: str | None) -> VmState:
    """internalSetVmStatus(Down): the VM leaves its host and loses its runtime data."""
    return evolve(
        vm,
        status=VmStatus.Down,
        host_id=None,
        migrating_to_host=None,
        migrating_from_host=None,
        exit_code=code,
        exit_reason=reason,
        exit_message=message,
        pause_code=None,
        client_ip=None,
        guest_ips=None,
        guest_mem_low=False,
        balloon_misses=0,
        down_seen_on_host=None,
        down_seen_at=None,
    )


def discovered(
    work: Work, reported: VmReport, status: VmStatus, report: HostReport, policy: MonitoringPolicy
) -> VmState | None:
    """A VM the engine does not know: external, unless it is Down (destroyed). oVirt also
    destroys one paused on EIO; vurti only with `policy.destroy_paused_vms`."""
    if status == VmStatus.Down:
        work.destroy(reported.vm_id, "unknown VM down")
        return None
    if policy.destroy_paused_vms and status == VmStatus.Paused and reported.pause_code == "EIO":
        work.destroy(reported.vm_id, "unknown VM paused on EIO")
        return None
    vm = VmState(vm_id=reported.vm_id, name=reported.name or "", host_id=work.host_id, status=status, managed=False)
    vm = apply_runtime(vm, reported, status, report)
    work.emit(ExternalVmDiscovered, vm_id=vm.vm_id, vm_name=vm.name, status=status.name)
    return vm


def down_reported(work: Work, vm: VmState, reported: VmReport) -> VmState:
    """proceedDownVm: a Down record. Only the VM's own host changes the VM."""
    code, reason, message = reported.exit_code, reported.exit_reason, reported.exit_message
    if vm.host_id != work.host_id:
        if left_by_migration(vm) and reason != ExitReason.MigrationSucceeded:
            # The host it left for ran it and it went down there before any report showed it
            # running (those reports lost: the database was down, say): it is Down, not left
            # migrating from a host that no longer has it.
            work.destroy(vm.vm_id, "down recorded")
            return _down(work, vm, code, reason, message)
        if vm.status == VmStatus.Suspended and vm.host_id is None and reason != ExitReason.SaveStateSucceeded:
            # Restored and down again on this host, unseen (the database was down, say): the
            # saved state is gone, the VM is Down. Its hibernation's own record says "saved".
            work.destroy(vm.vm_id, "down recorded")
            return _down(work, vm, code, reason, message)
        # Leftover on a migration's source, a failed migration's copy on the
        # destination, or a Down record already recorded: just clean it up.
        work.destroy(vm.vm_id, "Down record of a VM not on this host")
        if went_down_here_after_migrating(work, vm, reason):
            # Or the VM migrated here and went down before its source's "migration
            # succeeded" was seen (reports lost while the database was down, say): keep
            # the evidence, the source's record decides (below).
            return evolve(vm, down_seen_on_host=work.host_id, down_seen_at=work.now)
        return vm
    work.destroy(vm.vm_id, "down recorded")
    if vm.status == VmStatus.MigratingFrom:
        if code == ExitCode.Error:
            # abortVmMigration: the source crashed; stop the destination's copy too.
            aborted(work, vm, message or "the VM went down on the source")
            return _down(work, vm, code, reason, message)
        if vm.migrating_to_host is not None:
            return hand_over(work, vm, vm.migrating_to_host, "migration succeeded on the source")
    if reason == ExitReason.MigrationSucceeded and vm.down_seen_on_host not in (None, work.host_id):
        # It left by migration, and a host had already shown it Down (a record that was no
        # leftover of a migration): it went there and is down there. Nothing else reports it.
        assert vm.down_seen_on_host is not None
        there = work.name_of(vm.down_seen_on_host)
        message = f"migrated to host {there} and went down there (its Down record came first)"
        return _down(work, vm, int(ExitCode.Error), int(ExitReason.GenericError), message)
    if reason == ExitReason.MigrationSucceeded:
        # The VM left by migration to a host we do not know yet: not a crash, and never
        # Down. It stays migrating from here until a host reports it (migration.py).
        new = evolve(
            vm, status=VmStatus.MigratingFrom, exit_code=code, exit_reason=reason, exit_message=message, pause_code=None
        )
        work.status_changed(vm, new, "migration succeeded on the source; destination not known yet")
        return new
    if vm.status == VmStatus.SavingState or reason == ExitReason.SaveStateSucceeded:
        # oVirt stores Suspended whether hibernation succeeded or not; only the event differs.
        # A saved state also when SavingState went unseen (short, its event late or reordered).
        new = evolve(to_down(vm, code, reason, message), status=VmStatus.Suspended)
        if code != ExitCode.Error:
            work.status_changed(vm, new, "state saved")
            return new
        work.status_changed(vm, new, f"saving state failed: {message}" if message else "saving state failed")
        work.emit(VmDown, vm_id=vm.vm_id, vm_name=vm.name, exit_code=code, exit_reason=reason,
                  exit_message=message or "")
        return new
    return _down(work, vm, code, reason, message)


# Down records a migration's own ends leave behind: the source's after success, a failed copy's.
_MIGRATION_LEFTOVERS = frozenset(
    {ExitReason.MigrationSucceeded, ExitReason.MigrationFailed, ExitReason.PostcopyMigrationFailed}
)


def went_down_here_after_migrating(work: Work, vm: VmState, reason: int | None) -> bool:
    """A Down record on this host of a VM stored as running on another: evidence (kept on
    the VM until a host reports it running) that it may have migrated here, unseen, and
    gone down. Not for a migration's leftovers, nor when this host is known already."""
    return (
        vm.host_id is not None
        and vm.status in RUNNING_VM_STATUSES
        and reason not in _MIGRATION_LEFTOVERS
        and vm.down_seen_on_host != work.host_id
    )


def aborted(work: Work, vm: VmState, why: str) -> None:
    """abortVmMigration: VmMigrationAborted, and the destination's copy is destroyed."""
    destination = vm.migrating_to_host
    work.emit(
        VmMigrationAborted,
        vm_id=vm.vm_id,
        vm_name=vm.name,
        destination_host_id=destination,
        destination_host_name=work.name_of(destination) if destination else "",
        reason=why,
    )
    if destination is not None:
        work.destroy(vm.vm_id, "migration aborted", host_id=destination)


def _down(work: Work, vm: VmState, code: int | None, reason: int | None, message: str | None) -> VmState:
    """auditVmOnDownEvent + clearVm: VM_DOWN / VM_DOWN_ERROR come from an explicit Down report."""
    new = to_down(vm, code, reason, message)
    work.status_changed(vm, new, message)
    work.emit(VmDown, vm_id=vm.vm_id, vm_name=vm.name, exit_code=code, exit_reason=reason, exit_message=message or "")
    return new


def disappeared(work: Work, vm: VmState) -> VmState:
    """proceedDisappearedVm: running on this host in the DB, absent from a full report.

    No VmDown event on this path (oVirt logs no VM_DOWN here), VmDisappeared instead.
    """
    if vm.status == VmStatus.MigratingFrom:
        if vm.migrating_to_host is not None:
            return hand_over(work, vm, vm.migrating_to_host, "gone from the migration source")
        if left_by_migration(vm):
            return vm  # its Down record was destroyed; the destination has not reported it yet
        message = "migration aborted: VM gone from the source"
        aborted(work, vm, "VM gone from the source")
        new = to_down(vm, int(ExitCode.Error), int(ExitReason.MigrationFailed), message)
        work.status_changed(vm, new, new.exit_message)
        work.emit(VmDisappeared, vm_id=vm.vm_id, vm_name=vm.name, last_status=vm.status.name)
        return new
    if vm.status in (VmStatus.PoweringDown, VmStatus.RebootInProgress):
        new = to_down(vm, int(ExitCode.Normal), int(ExitReason.Success), "shutdown complete")
        work.status_changed(vm, new, "shutdown complete")
        return new
    new = to_down(vm, int(ExitCode.Error), int(ExitReason.GenericError), NOT_FOUND)
    work.status_changed(vm, new, NOT_FOUND)
    work.emit(VmDisappeared, vm_id=vm.vm_id, vm_name=vm.name, last_status=vm.status.name)
    return new


def lost_with_host(work: Work) -> None:
    """The host is NonResponsive: only its running VMs' status becomes Unknown."""
    for vm in work.running_here():
        if vm.status != VmStatus.Unknown and not left_by_migration(vm):  # that one left the host already
            new = evolve(vm, status=VmStatus.Unknown, migrating_to_host=None)
            work.status_changed(vm, new, "host non responsive")
            work.vms[vm.vm_id] = new
