"""Highly available VMs: an error exit asks for a restart.

oVirt: VmAnalyzer.setAutoRunFlag (proceedDownVm: Down with exit status Error on the
VM's host, or a migration source that crashed; proceedDisappearedVm: a VM gone
from its host) and VmsMonitoring, which runs them again unless a rerun of an
engine-started run or migration is under way ("refrain from auto-start HA VM during
its re-run attempts"). A normal exit, a hibernation (Suspended) and a migration that
succeeded are never restarted. vurti raises VmRestartRequested; a subscriber restarts.
"""

from __future__ import annotations

from collections.abc import Iterable

from vurti.analyze._work import Work
from vurti.domain.events import VmRestartRequested
from vurti.domain.exits import ExitCode
from vurti.domain.model import VmState
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus


def went_down_with_error(old: VmState | None, new: VmState) -> bool:
    """This analysis moved a running VM to Down with an error exit."""
    return (
        old is not None
        and old.status in RUNNING_VM_STATUSES
        and new.status == VmStatus.Down
        and new.exit_code == ExitCode.Error
    )


def request_restarts(work: Work, changed: Iterable[tuple[VmState | None, VmState]]) -> None:
    """`changed`: (stored, new) of the VMs this analysis changed; pending operations not settled yet."""
    for old, new in changed:
        if new.auto_start and new.vm_id not in work.operations and went_down_with_error(old, new):
            work.emit(VmRestartRequested, vm_id=new.vm_id, vm_name=new.name, exit_code=new.exit_code,
                      exit_reason=new.exit_reason, exit_message=new.exit_message or "")
