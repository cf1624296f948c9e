"""What an analysis decided: the contract between analyzers and updaters."""

from __future__ import annotations

from dataclasses import dataclass

from vurti.domain.commands import Command
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
    """

    host: HostState | None = None
    vms: tuple[VmState, ...] = ()
    host_stats: HostStats | None = None
    vm_stats: tuple[tuple[str, VmStats], ...] = ()
    vm_usage: tuple[tuple[str, VmUsage], ...] = ()
    events: tuple[Event, ...] = ()
    commands: tuple[Command, ...] = ()
    stale: bool = False

    @property
    def changes_state(self) -> bool:
        return self.host is not None or bool(self.vms) or bool(self.events)

    @property
    def is_empty(self) -> bool:
        return not (self.changes_state or self.host_stats or self.vm_stats or self.commands)
