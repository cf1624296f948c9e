"""Engine-started runs and migrations: confirm them or report them failed.

oVirt: ResourceManager's asyncRunningVms with IVdsAsyncCommand. VmAnalyzer marks a
run as succeeded when the VM comes Up on its host (isRunSucceeded) and a migration
when the destination runs it (isMigrationSucceeded): runningSucceded. It asks for a
rerun when the VM goes Down with an error or disappears while the command is
pending, or when a migration source runs the VM again (migration failed); a normal
exit just drops the command. vurti also fails an operation that is not confirmed by
its deadline (oVirt's command would time out on its own side). Outcomes are events:
EngineOperationSucceeded, VmRerunRequested (a subscriber reruns), EngineOperationCancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vurti.analyze._work import Work
from vurti.analyze.ha import went_down_with_error
from vurti.domain.events import EngineOperationCancelled, EngineOperationSucceeded, VmRerunRequested
from vurti.domain.exits import ExitCode
from vurti.domain.model import OperationKind, PendingOperation, VmState
from vurti.domain.report import VmReport
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus

RUN_CONFIRMED = frozenset({VmStatus.Up, VmStatus.PoweringUp})
# A migration is over once the VM runs on a host other than the source in one of these.
MIGRATED = RUNNING_VM_STATUSES - {VmStatus.MigratingTo, VmStatus.MigratingFrom, VmStatus.Unknown,
                                  VmStatus.WaitForLaunch}


def settle_operations(work: Work, before: Mapping[str, VmState], reported: Iterable[VmReport]) -> list[str]:
    """Settle what this analysis decides of the pending operations; the VM ids settled."""
    downs = {r.vm_id: r for r in reported if r.status == VmStatus.Down and r.vm_id in work.operations}
    ended = []
    for op in list(work.operations.values()):
        if _settle(work, op, before.get(op.vm_id), work.vms.get(op.vm_id), downs.get(op.vm_id)):
            ended.append(op.vm_id)
    return ended


def _settle(work: Work, op: PendingOperation, old: VmState | None, vm: VmState | None,
            down: VmReport | None) -> bool:
    name = vm.name if vm is not None else ""
    changed = vm is not None and vm is not old
    if op.kind is OperationKind.RUN:
        if vm is not None and vm.host_id == op.host_id == work.host_id and vm.status in RUN_CONFIRMED:
            return _succeeded(work, op, vm)
        if down is not None and op.host_id == work.host_id and (vm is None or vm.host_id in (None, work.host_id)):
            # A Down record on the host it was started on: the run ended before (or as) it was seen running.
            if down.exit_code == ExitCode.Error:
                return _failed(work, op, name, down.exit_message or "went down with an error")
            return _cancelled(work, op, name, down.exit_message or "went down normally")
    else:
        if vm is not None and vm.host_id not in (None, op.host_id) and vm.status in MIGRATED:
            return _succeeded(work, op, vm)
        if changed and old is not None and vm is not None and old.status == VmStatus.MigratingFrom \
                and vm.host_id == op.host_id and vm.status in MIGRATED:
            return _failed(work, op, name, "the source runs the VM again")
    if changed and vm is not None and vm.status == VmStatus.Down and old is not None and old.status != VmStatus.Down:
        if went_down_with_error(old, vm):
            return _failed(work, op, name, vm.exit_message or "went down with an error")
        return _cancelled(work, op, name, vm.exit_message or "went down normally")
    if work.now > op.deadline:
        where = work.name_of(op.target) if op.target else "another host"
        return _failed(work, op, name, f"not running on {where} within {op.deadline - op.started_at:.0f} s")
    return False


def _succeeded(work: Work, op: PendingOperation, vm: VmState) -> bool:
    work.emit(EngineOperationSucceeded, vm_id=op.vm_id, vm_name=vm.name, kind=str(op.kind), status=vm.status.name)
    return True


def _failed(work: Work, op: PendingOperation, name: str, reason: str) -> bool:
    target = op.target
    work.emit(VmRerunRequested, vm_id=op.vm_id, vm_name=name, kind=str(op.kind), expected_host_id=target,
              expected_host_name=work.name_of(target) if target else "", reason=reason)
    return True


def _cancelled(work: Work, op: PendingOperation, name: str, reason: str) -> bool:
    work.emit(EngineOperationCancelled, vm_id=op.vm_id, vm_name=name, kind=str(op.kind), reason=reason)
    return True
