"""A VM reported by a host other than the one the stored state says it runs on.

oVirt: VmAnalyzer.proceedVmReportedOnOtherHost and handOverVm. The report usually
comes from one end of a migration:

- the destination's "Migration Destination" copy is ignored until the migration is
  done (but it tells us the destination of a migration the engine did not start,
  takes over a VM the source already left, and adopts a VM that runs nowhere);
- the source's "Migration Source" copy, and its post-copy Paused copy (POSTCOPY,
  read as a migration source by running.effective_status), are ignored;
- the destination reporting the VM running ends the migration: the VM moves there;
- a Paused copy of a VM that runs elsewhere (not Unknown) is destroyed with
  `policy.destroy_paused_vms` (oVirt's rule), left alone otherwise;
- Up elsewhere ends a migration no poll saw start; anything when the VM runs nowhere
  moves the VM to this host;
  other statuses are ignored while the VM runs on another host.
"""

from __future__ import annotations

from vurti.analyze._work import Work, hand_over, left_by_migration, migration_ended
from vurti.analyze.running import accept_running
from vurti.domain.exits import ExitReason
from vurti.domain.model import VmState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus


def migration_source(vm: VmState, host_id: str) -> str | None:
    """The source host when `host_id` reporting the VM running ends its migration."""
    if vm.status == VmStatus.MigratingFrom and vm.migrating_to_host in (host_id, None):
        return vm.host_id
    if (
        vm.status == VmStatus.Down
        and vm.exit_reason == ExitReason.MigrationSucceeded
        and vm.migrating_from_host not in (None, host_id)
    ):
        # The source reported "migration succeeded" before anyone knew the destination.
        return vm.migrating_from_host
    return None


def on_other_host(
    work: Work, vm: VmState, reported: VmReport, status: VmStatus, report: HostReport, policy: MonitoringPolicy
) -> VmState:
    """`vm.host_id` is not the reporting host and the report is not Down."""
    here = work.host_id
    cleared = evolve(vm, migrating_to_host=None, migrating_from_host=None)
    if status == VmStatus.MigratingTo:
        if vm.status == VmStatus.MigratingFrom and vm.migrating_to_host is None:
            if left_by_migration(vm):  # the source is done: this host runs it now
                return hand_over(work, vm, here, "migration succeeded on the source")
            return evolve(vm, migrating_to_host=here)  # learn an external migration's destination
        if vm.host_id is None or vm.status not in RUNNING_VM_STATUSES:
            # A VM that runs nowhere is coming here: adopt it as migrating to this host.
            reason = f"migrating to host {work.name_of(here)}"
            return accept_running(work, vm, cleared, reported, status, report, policy, reason)
        return vm
    if status == VmStatus.MigratingFrom:  # includes a post-copy source's Paused copy
        return vm
    source = migration_source(vm, here)
    if source is not None:
        reason = migration_ended(work, vm, source)
        return accept_running(work, vm, cleared, reported, status, report, policy, reason)
    if vm.host_id is None or vm.status not in RUNNING_VM_STATUSES:
        return accept_running(work, vm, cleared, reported, status, report, policy, f"found on host {work.name_of(here)}")
    if status == VmStatus.Paused:
        if vm.status != VmStatus.Unknown and policy.destroy_paused_vms:
            work.destroy(vm.vm_id, f"paused copy of a VM running on host {work.name_of(vm.host_id)}")
        return vm
    if status == VmStatus.Up:
        if vm.status == VmStatus.Unknown:
            return accept_running(work, vm, cleared, reported, status, report, policy, "restored from unknown")
        # Up here while stored as running on another host: a migration whose start and
        # source side no poll caught (a fast migration between two polls). The source's
        # Down record (exitReason 4) will arrive as a leftover to destroy.
        assert vm.host_id is not None
        reason = migration_ended(work, vm, vm.host_id)
        return accept_running(work, vm, cleared, reported, status, report, policy, reason)
    return vm  # ignored until a migration in progress is done
