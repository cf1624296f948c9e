"""Apply Analyses in one transaction, each host guarded by its own fencing token.

One host (`apply_analysis`) or a batch (`apply_analyses`) take the same path: for a
batch, every step below is one statement for all its hosts.

Order inside the transaction: fencing check first, in the same UPDATE as the host's
changed dynamic columns (so a writer that lost its lock writes nothing), then host
statistics, VM dynamic data (changed rows and columns, batched),
VM devices (when a hash changed), VM statistics (one bulk upsert), settled engine
operations deleted, events into the outbox and host commands, all committed together.
Events and commands are acted on only after the commit.

Idempotence: the analyzer returns an empty analysis for a report already applied,
which costs nothing here. Beyond that, applying the very same analysis twice (a
redelivered task) is harmless: dynamic updates rewrite equal values, new VMs are
upserted, and outbox rows and commands carry UNIQUE keys derived from their content.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from vurti.domain.analysis import Analysis
from vurti.domain.commands import Command
from vurti.domain.devices import VmDevice
from vurti.domain.events import Event
from vurti.domain.model import HostSnapshot, VmState, VmUsage
from vurti.domain.report import VmStats
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


@dataclass(frozen=True)
class Write:
    """One host's analysis, to be written under the fencing token its update holds."""

    snapshot: HostSnapshot
    analysis: Analysis
    fence_token: int

    @property
    def host_id(self) -> str:
        return self.snapshot.config.id


class VdsUpdater:
    """Writes hosts' statistics (their dynamic state rides on the fencing UPDATE)."""

    def __init__(self, hosts: VdsRepository) -> None:
        self._hosts = hosts

    def apply(self, writes: Sequence[Write], now: float) -> None:
        stats = [(w.host_id, w.analysis.host_stats) for w in writes if w.analysis.host_stats is not None]
        self._hosts.save_host_stats_many(stats, now)


class VmUpdater:
    """Writes VM dynamic state (new VMs inserted, others by changed columns) and statistics,
    for all the writes at once: one executemany per column set and table."""

    def __init__(self, vms: VmRepository) -> None:
        self._vms = vms

    def apply(self, writes: Sequence[Write], now: float) -> None:
        previous: dict[str, VmState] = {}
        changed: list[VmState] = []
        stats: list[tuple[str, VmStats]] = []
        usage: dict[str, VmUsage] = {}
        saved: list[tuple[str, VmDevice]] = []
        removed: list[tuple[str, str]] = []
        for w in writes:
            analysis, vms = w.analysis, w.snapshot.vms
            saved.extend(analysis.devices_saved)
            removed.extend(analysis.devices_removed)
            if analysis.vms:
                previous.update(vms)
                changed.extend(analysis.vms)
            if analysis.vm_stats:
                # Statistics only for VMs that have a row: a VM the analysis chose not to record has none.
                known = vms.keys() | {vm.vm_id for vm in analysis.vms}
                stats.extend((vm_id, s) for vm_id, s in analysis.vm_stats if vm_id in known)
                usage.update(analysis.vm_usage)
        if changed:
            self._vms.save_vms(previous, changed)
        if stats:
            self._vms.save_vm_stats(stats, now, usage)
        if saved or removed:  # after save_vms: a device's VM row exists by then
            self._vms.save_devices(saved, removed, now)


def _placement(vm: VmState) -> tuple[object, ...]:
    return (int(vm.status), vm.host_id, vm.migrating_to_host, vm.status_time, vm.status_time_host,
            vm.down_seen_on_host)


def _moved_under_us(uow: UnitOfWork, writes: Sequence[Write]) -> list[str]:
    """oVirt skips a VM whose data changed after its fetch started; here the whole update is redone.

    The per-host lock does not cover a VM that two hosts report at once (the two ends of a
    migration). After the fencing UPDATE holds the write lock (SQLite) and with the VM rows
    locked (PostgreSQL), the rows these analyses change must still be as the snapshots saw
    them. Returns the hosts whose analyses must be redone.
    """
    changed: dict[str, tuple[str, VmState, VmState]] = {}
    for w in writes:
        for vm in w.analysis.vms:
            old = w.snapshot.vms.get(vm.vm_id)
            if old is not None:
                changed[vm.vm_id] = (w.host_id, old, vm)
    if not changed:
        return []
    current = uow.vms.placements(list(changed))
    moved = set()
    for vm_id, (host_id, old, new) in changed.items():
        row = current.get(vm_id)
        if row is None:
            continue
        now_stored = (int(row[0]), *row[1:])
        # As the snapshot saw it: fine. As this very analysis would leave it: a redelivery, fine.
        if now_stored not in (_placement(old), _placement(new)):
            moved.add(host_id)
    return sorted(moved)


def _overlapping(writes: Sequence[Write]) -> bool:
    """Two writes for one host, or two that read or change one VM: one transaction would let
    the second analysis miss the first one's change, so they must go one at a time."""
    hosts: set[str] = set()
    vms: set[str] = set()
    for w in writes:
        mine = w.snapshot.vms.keys() | {vm.vm_id for vm in w.analysis.vms} | set(w.analysis.ended_operations)
        if w.host_id in hosts or not vms.isdisjoint(mine):
            return True
        hosts.add(w.host_id)
        vms |= mine
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
    one (a writer that lost its lock) rolls back and returns a falsy result; a snapshot
    another writer wrote over since it was read, a conflict (the caller redoes it).
    """
    results = apply_analyses(uow, [Write(snapshot, analysis, fence_token)], now, subscribers)
    return ApplyResult(applied=False, conflict=True) if results is None else results[0]


def apply_analyses(
    uow: UnitOfWork, writes: Sequence[Write], now: float, subscribers: Sequence[str]
) -> list[ApplyResult] | None:
    """Write several hosts' analyses in one transaction and commit; one result per write, in order.

    Each host is fenced on its own token: a host whose writer lost its lock writes
    nothing, the others are written. Statements are shared across hosts (one
    executemany per table and column set), so a batch of statistics cycles costs
    about what one costs. None, with nothing written: writes that overlap (see
    `_overlapping`), a VM that another host's update changed since a snapshot, or a
    host another run of the same update wrote since its snapshot (its token older
    than ours); the caller redoes them one at a time, each on a fresh snapshot. Likewise
    when an engine operation this batch settles was settled or replaced by another update meanwhile.
    """
    for w in writes:
        if w.analysis.host is not None and w.analysis.host.host_id != w.host_id:
            raise ValueError(f"analysis of host {w.analysis.host.host_id} applied to {w.host_id}")
    live = [w for w in writes if not w.analysis.is_empty]
    if not live:
        return [ApplyResult(applied=True) for _ in writes]
    if len(live) > 1 and _overlapping(live):
        return None
    # The hosts' changed columns ride on the fencing UPDATE itself.
    accepted = uow.hosts.fence_many([(w.host_id, w.fence_token, w.snapshot.state, w.analysis.host) for w in live],
                                    seen={w.host_id: w.snapshot.fence_token for w in live})
    refused = [w for w in live if w.host_id not in accepted]
    if refused:
        stored = uow.hosts.fence_tokens([w.host_id for w in refused])
        behind = [w.host_id for w in refused if stored.get(w.host_id, 0) < w.fence_token]
        if behind:  # the newest holder, on a snapshot another run wrote over since: redo on a fresh one
            uow.rollback()
            log.info("hosts %s: written by another run since this update's snapshot; redone", ", ".join(behind))
            return None
        for w in refused:
            log.warning("host %s: fencing token %s is stale; update dropped", w.host_id, w.fence_token)
    fenced = [w for w in live if w.host_id in accepted]
    if not fenced:
        uow.rollback()
        return [ApplyResult(applied=w.analysis.is_empty) for w in writes]
    moved = _moved_under_us(uow, fenced)
    if moved:
        uow.rollback()
        log.info("hosts %s: a VM changed under this update (another host's report); redone", ", ".join(moved))
        return None
    ending = [op for w in fenced for vm_id in w.analysis.ended_operations
              if (op := w.snapshot.operations.get(vm_id)) is not None]
    if ending and not uow.operations.end(ending):
        uow.rollback()
        log.info("an engine operation was settled or replaced under this update; redone")
        return None
    VdsUpdater(uow.hosts).apply(fenced, now)
    VmUpdater(uow.vms).apply(fenced, now)
    events = _add_events(uow, fenced, now, subscribers)
    keys: dict[str, tuple[str, ...]] = {}
    for w in fenced:
        if w.analysis.commands:
            items = [(c, once_suffix(c, w.snapshot, w.analysis, now)) for c in w.analysis.commands]
            keys[w.host_id] = tuple(uow.commands.add(items, now))
    uow.commit()
    results = []
    for w in writes:
        if w.analysis.is_empty:
            results.append(ApplyResult(applied=True))
        elif w.host_id not in accepted:
            results.append(ApplyResult(applied=False))
        else:
            results.append(ApplyResult(True, events.get(w.host_id, ()), keys.get(w.host_id, ()), wrote=True))
    return results


def _add_events(
    uow: UnitOfWork, writes: Sequence[Write], now: float, subscribers: Sequence[str]
) -> dict[str, tuple[tuple[int, Event], ...]]:
    """All the writes' events into the outbox at once; the new rows, by the host whose analysis raised them."""
    owner = {id(e): w.host_id for w in writes for e in w.analysis.events}
    if not owner:
        return {}
    added = uow.outbox.add([e for w in writes for e in w.analysis.events], subscribers, now)
    by_host: dict[str, list[tuple[int, Event]]] = {}
    for row in added:
        by_host.setdefault(owner[id(row[1])], []).append(row)
    return {host_id: tuple(rows) for host_id, rows in by_host.items()}
