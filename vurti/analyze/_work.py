"""The scratchpad one analysis writes into: working VM states, events and commands.

Local and mutable while one `analyze` call runs, never shared: the analysis as a
whole stays a pure function of its arguments. Also the migration steps that both
ends' rules take (hand-over, migration ended, a VM left by migration), so each has
one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vurti.domain.commands import Command, DestroyVm
from vurti.domain.devices import VmDevice
from vurti.domain.events import Event, VmMigrationEnded, VmStateChanged
from vurti.domain.exits import ExitReason
from vurti.domain.model import PendingOperation, VmState, evolve
from vurti.domain.status import RUNNING_VM_STATUSES, HostStatus, VmStatus


@dataclass
class Work:
    host_id: str
    now: float
    vms: dict[str, VmState]
    host_statuses: Mapping[str, HostStatus]
    host_names: Mapping[str, str] = field(default_factory=dict)
    operations: Mapping[str, PendingOperation] = field(default_factory=dict)  # pending engine operations, by VM
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    stored_devices: Mapping[str, tuple[VmDevice, ...]] = field(default_factory=dict)
    devices_saved: list[tuple[str, VmDevice]] = field(default_factory=list)
    devices_removed: list[tuple[str, str]] = field(default_factory=list)

    def emit(self, cls: type[Event], **data: Any) -> None:
        """Every event is about the analysed host and stamped with the analysis time."""
        self.events.append(cls(host_id=self.host_id, at=self.now, **data))

    def name_of(self, host_id: str | None) -> str:
        """A host as people read it: its name, else its id."""
        if host_id is None:
            return "an unknown host"
        return self.host_names.get(host_id) or host_id

    def destroy(self, vm_id: str, reason: str, host_id: str | None = None) -> None:
        command = DestroyVm(host_id=host_id or self.host_id, vm_id=vm_id, reason=reason)
        if all(c.key != command.key for c in self.commands):
            self.commands.append(command)

    def status_changed(self, old: VmState, new: VmState, reason: str | None = None) -> None:
        if old.status != new.status:
            self.emit(
                VmStateChanged,
                vm_id=new.vm_id,
                vm_name=new.name,
                old=old.status.name,
                new=new.status.name,
                reason=reason,
            )

    def running_here(self) -> list[VmState]:
        """VMs the stored state says occupy the analysed host."""
        return [vm for vm in self.vms.values() if vm.host_id == self.host_id and vm.status in RUNNING_VM_STATUSES]


def destination_status(work: Work, destination: str) -> VmStatus:
    """oVirt's handOverVm: Unknown when the destination is NonResponsive, else MigratingTo."""
    if work.host_statuses.get(destination) == HostStatus.NonResponsive:
        return VmStatus.Unknown
    return VmStatus.MigratingTo


def hand_over(work: Work, vm: VmState, destination: str, why: str) -> VmState:
    """handOverVm: the source is done; the VM now belongs to the destination."""
    new = evolve(
        vm,
        host_id=destination,
        status=destination_status(work, destination),
        migrating_to_host=None,
        migrating_from_host=vm.host_id,
        pause_code=None,
        down_seen_on_host=None,
        down_seen_at=None,
    )
    work.status_changed(vm, new, f"{why}; handed over to host {work.name_of(destination)}")
    return new


def migration_ended(work: Work, vm: VmState, source: str) -> str:
    """VmMigrationEnded from `source` to the analysed host; the reason of the VM's transition."""
    work.emit(
        VmMigrationEnded,
        vm_id=vm.vm_id,
        vm_name=vm.name,
        source_host_id=source,
        destination_host_id=work.host_id,
        source_host_name=work.name_of(source),
        destination_host_name=work.name_of(work.host_id),
    )
    return f"migration from host {work.name_of(source)} completed"


def left_by_migration(vm: VmState) -> bool:
    """The source reported "migration succeeded" before any host of the cluster reported the VM."""
    return (
        vm.status == VmStatus.MigratingFrom
        and vm.migrating_to_host is None
        and vm.exit_reason == ExitReason.MigrationSucceeded
    )
