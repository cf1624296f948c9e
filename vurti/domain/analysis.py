"""What an analysis decided: the contract between analyzers and updaters."""

from __future__ import annotations

from dataclasses import dataclass

from vurti.domain.commands import Command
from vurti.domain.devices import VmDevice
from vurti.domain.events import Event
from vurti.domain.model import HostState, VmState, VmUsage
from vurti.domain.report import HostStats, VmStats


@dataclass(frozen=True)
class Analysis:
    """The outcome of analysing one report against a HostSnapshot.

    `host` is the host's new dynamic state, or None when it did not change.
    `vms` holds new or changed VM states only (a VM not in the snapshot is new).
    `host_stats` / `vm_stats` are set when statistics are due this cycle; `vm_usage` goes
    with `vm_stats` (one entry per VM of it: the same statistics row). A VM that stopped
    gets zeroed statistics and usage whatever the cycle (VmAnalyzer.resetVmStatistics).
    `stale` is True when the report was older than stored state and was ignored.
    `ended_operations`: pending engine operations settled by this analysis (their outcome is in `events`).
    `devices_saved` (VM id, device) rows to insert or overwrite; `devices_removed` (VM id,
    device id) rows to delete.
    """

    host: HostState | None = None
    vms: tuple[VmState, ...] = ()
    host_stats: HostStats | None = None
    vm_stats: tuple[tuple[str, VmStats], ...] = ()
    vm_usage: tuple[tuple[str, VmUsage], ...] = ()
    events: tuple[Event, ...] = ()
    commands: tuple[Command, ...] = ()
    stale: bool = False
    ended_operations: tuple[str, ...] = ()  # VM ids whose pending engine operation is settled (removed)
    devices_saved: tuple[tuple[str, VmDevice], ...] = ()
    devices_removed: tuple[tuple[str, str], ...] = ()

    @property
    def changes_state(self) -> bool:
        return (self.host is not None or bool(self.vms) or bool(self.events) or bool(self.ended_operations)
                or bool(self.devices_saved) or bool(self.devices_removed))

    @property
    def is_empty(self) -> bool:
        return not (self.changes_state or self.host_stats or self.vm_stats or self.commands)
