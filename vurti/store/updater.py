"""Apply an Analysis in one transaction, guarded by the host's fencing token.

Order inside the transaction: fencing check first, in the same UPDATE as the host's
changed dynamic columns (so a writer that lost its lock writes nothing), then host
statistics, VM dynamic data (changed rows and columns, batched),
VM statistics (one bulk upsert), events into the outbox and host commands, all
committed together. Events and commands are acted on only after the commit.

Idempotence: the analyzer returns an empty analysis for a report already applied,
which costs nothing here. Beyond that, applying the very same analysis twice (a
redelivered task) is harmless: dynamic updates rewrite equal values, new VMs are
upserted, and outbox rows and commands carry UNIQUE keys derived from their content.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from vurti.domain.analysis import Analysis
from vurti.domain.commands import Command
from vurti.domain.events import Event
from vurti.domain.model import HostSnapshot, VmState
from vurti.store.unit_of_work import UnitOfWork
from vurti.store.vds_repository import VdsRepository
from vurti.store.vm_repository import VmRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """Truthy when the analysis was written (or there was nothing to write)."""

    applied: bool
    events: tuple[tuple[int, Event], ...] = field(default=())  # new outbox rows, for delivery after commit
    commands: tuple[str, ...] = field(default=())  # keys of the host commands recorded
    wrote: bool = False  # False when nothing needed writing
    conflict: bool = False  # another host's update changed one of these VMs since the snapshot: reload, redo

    def __bool__(self) -> bool:
        return self.applied


class VdsUpdater:
    """Writes a host's dynamic state and statistics."""

    def __init__(self, hosts: VdsRepository) -> None:
        self._hosts = hosts

    def apply(self, snapshot: HostSnapshot, analysis: Analysis, now: float) -> None:
        host_id = snapshot.config.id
        if analysis.host is not None:
            if analysis.host.host_id != host_id:
                raise ValueError(f"analysis of host {analysis.host.host_id} applied to {host_id}")
            self._hosts.save_host_state(snapshot.state, analysis.host)
        if analysis.host_stats is not None:
            self._hosts.save_host_stats(host_id, analysis.host_stats, now)


class VmUpdater:
    """Writes VM dynamic state (new VMs inserted, others by changed columns) and statistics."""

    def __init__(self, vms: VmRepository) -> None:
        self._vms = vms

    def apply(self, snapshot: HostSnapshot, analysis: Analysis, now: float) -> None:
        if analysis.vms:
            self._vms.save_vms(snapshot.vms, analysis.vms)
        if analysis.vm_stats:
            # Statistics only for VMs that have a row: a VM the analysis chose not to record has none.
            known = snapshot.vms.keys() | {vm.vm_id for vm in analysis.vms}
            rows = [(vm_id, stats) for vm_id, stats in analysis.vm_stats if vm_id in known]
            self._vms.save_vm_stats(rows, now)


def _placement(vm: VmState) -> tuple[object, ...]:
    return (int(vm.status), vm.host_id, vm.migrating_to_host, vm.status_time, vm.status_time_host)


def _moved_under_us(uow: UnitOfWork, snapshot: HostSnapshot, analysis: Analysis) -> bool:
    """oVirt skips a VM whose data changed after its fetch started; here the whole update is redone.

    The per-host lock does not cover a VM that two hosts report at once (the two ends of a
    migration). After the fencing UPDATE holds the write lock (SQLite) and with the VM rows
    locked (PostgreSQL), the rows this analysis changes must still be as the snapshot saw them.
    """
    changed = {vm.vm_id: vm for vm in analysis.vms if vm.vm_id in snapshot.vms}
    if not changed:
        return False
    current = uow.vms.placements(list(changed))
    for vm_id, new in changed.items():
        row = current.get(vm_id)
        if row is None:
            continue
        now_stored = (int(row[0]), *row[1:])
        # As the snapshot saw it: fine. As this very analysis would leave it: a redelivery, fine.
        if now_stored not in (_placement(snapshot.vms[vm_id]), _placement(new)):
            return True
    return False


def once_suffix(command: Command, snapshot: HostSnapshot, analysis: Analysis, now: float) -> str:
    """What makes a command once-per-record: the VM's applied statusTime, else the report's time."""
    vm_id = getattr(command, "vm_id", None)
    state = next((vm for vm in reversed(analysis.vms) if vm.vm_id == vm_id), None) or snapshot.vms.get(vm_id or "")
    if state is not None and state.status_time is not None:
        return f"{state.status_time_host}:{state.status_time}"
    if analysis.host is not None and analysis.host.last_report_at is not None:
        return f"report:{analysis.host.last_report_at!r}"
    return f"at:{now!r}"


def apply_analysis(
    uow: UnitOfWork,
    snapshot: HostSnapshot,
    analysis: Analysis,
    fence_token: int,
    now: float,
    subscribers: Sequence[str],
) -> ApplyResult:
    """Write `analysis` and commit; `uow` must be inside its `with` block.

    An empty analysis runs no SQL at all. A fencing token older than the stored
    one (a writer that lost its lock) rolls back and returns a falsy result.
    """
    if analysis.is_empty:
        return ApplyResult(applied=True)
    host_id = snapshot.config.id
    if analysis.host is not None and analysis.host.host_id != host_id:
        raise ValueError(f"analysis of host {analysis.host.host_id} applied to {host_id}")
    # The host's changed columns ride on the fencing UPDATE itself.
    if not uow.hosts.fence(host_id, fence_token, snapshot.state, analysis.host):
        uow.rollback()
        log.warning("host %s: fencing token %s is stale; update dropped", host_id, fence_token)
        return ApplyResult(applied=False)
    if _moved_under_us(uow, snapshot, analysis):
        uow.rollback()
        log.info("host %s: a VM changed under this update (another host's report); it will be redone", host_id)
        return ApplyResult(applied=False, conflict=True)
    VdsUpdater(uow.hosts).apply(snapshot, replace(analysis, host=None), now)
    VmUpdater(uow.vms).apply(snapshot, analysis, now)
    events = uow.outbox.add(analysis.events, subscribers, now) if analysis.events else []
    keys: list[str] = []
    if analysis.commands:
        items = [(c, once_suffix(c, snapshot, analysis, now)) for c in analysis.commands]
        keys = uow.commands.add(items, now)
    uow.commit()
    return ApplyResult(applied=True, events=tuple(events), commands=tuple(keys), wrote=True)
