"""An in-memory unit of work for fast unit tests of code that uses the storage layer.

Same method names and return types as the SQL repositories (the parts the
pipeline, the bus and the CLI use), with commit / rollback semantics: changes
made in a block are visible to the next block only after commit(). No scopes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from vurti.domain.commands import Command
from vurti.domain.events import Event
from vurti.domain.model import Cluster, HostConfig, HostSnapshot, HostState, VmState, changed_fields, replace
from vurti.domain.report import HostStats, VmStats
from vurti.domain.status import RUNNING_VM_STATUSES
from vurti.store.audit import AuditEntry
from vurti.store.command_repository import DONE, FAILED, PENDING, PendingCommand, command_key
from vurti.store.errors import HostInUse, HostNotFound
from vurti.store.outbox import dedup_key


@dataclass
class FakeData:
    clusters: dict[str, Cluster] = field(default_factory=dict)
    hosts: dict[str, HostConfig] = field(default_factory=dict)
    states: dict[str, HostState] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    host_stats: dict[str, tuple[float, HostStats]] = field(default_factory=dict)
    vms: dict[str, VmState] = field(default_factory=dict)
    vm_stats: dict[str, tuple[float, VmStats]] = field(default_factory=dict)
    outbox: dict[int, tuple[str, Event]] = field(default_factory=dict)  # id -> (dedup key, event)
    deliveries: dict[tuple[str, int], float] = field(default_factory=dict)  # (subscriber, id) -> next attempt
    delivery_attempts: dict[tuple[str, int], int] = field(default_factory=dict)  # (subscriber, id) -> failures
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    last_id: int = 0


class FakeHosts:
    def __init__(self, data: FakeData) -> None:
        self.d = data

    def add_cluster(self, cluster: Cluster) -> None:
        self.d.clusters[cluster.id] = cluster

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        return self.d.clusters.get(cluster_id)

    def get_cluster_by_name(self, name: str) -> Cluster | None:
        return next((c for c in self.d.clusters.values() if c.name == name), None)

    def list_clusters(self) -> list[Cluster]:
        return sorted(self.d.clusters.values(), key=lambda c: c.name)

    def add_host(self, config: HostConfig) -> None:
        if any(h.name == config.name for h in self.d.hosts.values()) or config.id in self.d.hosts:
            raise ValueError(f"host {config.id} / {config.name} exists")
        self.d.hosts[config.id] = config
        self.d.states[config.id] = HostState(config.id)
        self.d.tokens[config.id] = 0

    def remove_host(self, host_id: str) -> int:
        busy = [
            v.vm_id
            for v in self.d.vms.values()
            if host_id in (v.host_id, v.migrating_to_host) and v.status in RUNNING_VM_STATUSES
        ]
        if busy:
            raise HostInUse(f"host {host_id} still runs VM {busy[0]}")
        if host_id not in self.d.hosts:
            raise HostNotFound(host_id)
        detached = 0
        for v in list(self.d.vms.values()):
            if v.host_id == host_id:
                detached += 1
                self.d.vms[v.vm_id] = replace(v, host_id=None)
            if v.migrating_to_host == host_id:
                self.d.vms[v.vm_id] = replace(self.d.vms[v.vm_id], migrating_to_host=None)
        for table in (self.d.hosts, self.d.states, self.d.tokens, self.d.host_stats):
            table.pop(host_id, None)
        return detached

    def get_host(self, host_id: str) -> HostConfig | None:
        return self.d.hosts.get(host_id)

    def get_host_by_name(self, name: str) -> HostConfig | None:
        return next((h for h in self.d.hosts.values() if h.name == name), None)

    def get_host_state(self, host_id: str) -> HostState | None:
        return self.d.states.get(host_id)

    def list_hosts(self) -> list[tuple[HostConfig, HostState]]:
        return [(c, self.d.states[c.id]) for c in sorted(self.d.hosts.values(), key=lambda c: c.name)]

    def load_snapshot(self, host_id: str, reported_vm_ids: Iterable[str] = ()) -> HostSnapshot | None:
        config = self.d.hosts.get(host_id)
        if config is None:
            return None
        reported = set(reported_vm_ids)
        vms = {
            v.vm_id: v
            for v in self.d.vms.values()
            if host_id in (v.host_id, v.migrating_to_host) or v.vm_id in reported
        }
        refs = {
            h for v in vms.values() for h in (v.host_id, v.migrating_to_host, getattr(v, "migrating_from_host", None))
        }
        statuses = {h: self.d.states[h].status for h in refs if h and h != host_id and h in self.d.states}
        names = {h: self.d.hosts[h].name for h in statuses if h in self.d.hosts}
        return HostSnapshot(
            self.d.clusters[config.cluster_id], config, self.d.states[host_id], vms, statuses, self.d.tokens[host_id],
            names,
        )

    def load_snapshots(self, requests: Sequence[tuple[str, Iterable[str]]]) -> dict[str, HostSnapshot]:
        snaps = {host_id: self.load_snapshot(host_id, vm_ids) for host_id, vm_ids in requests}
        return {host_id: snap for host_id, snap in snaps.items() if snap is not None}

    def fence_many(self, items: Sequence[tuple[str, int, HostState | None, HostState | None]]) -> set[str]:
        return {host_id for host_id, token, old, new in items if self.fence(host_id, token, old, new)}

    def fence(self, host_id: str, token: int, old: HostState | None = None, new: HostState | None = None) -> bool:
        if host_id not in self.d.tokens or self.d.tokens[host_id] > token:
            return False
        self.d.tokens[host_id] = token
        if old is not None and new is not None:
            self.save_host_state(old, new)
        return True

    def fence_token(self, host_id: str) -> int | None:
        return self.d.tokens.get(host_id)

    def save_host_state(self, old: HostState, new: HostState) -> bool:
        if old == new:
            return False
        current = self.d.states[new.host_id]
        self.d.states[new.host_id] = replace(current, **changed_fields(old, new))
        return True

    def save_host_stats(self, host_id: str, stats: HostStats, at: float) -> None:
        self.d.host_stats[host_id] = (at, stats)

    def save_host_stats_many(self, items: Sequence[tuple[str, HostStats]], at: float) -> None:
        for host_id, stats in items:
            self.save_host_stats(host_id, stats, at)

    def get_host_stats(self, host_id: str) -> tuple[float, HostStats] | None:
        return self.d.host_stats.get(host_id)


class FakeVms:
    def __init__(self, data: FakeData) -> None:
        self.d = data

    def save_vms(self, previous: Mapping[str, VmState], changed: Sequence[VmState]) -> int:
        for vm in changed:
            self.d.vms[vm.vm_id] = vm
        return len({vm.vm_id for vm in changed})

    def save_vm_stats(self, rows: Sequence[tuple[str, VmStats]], at: float) -> None:
        for vm_id, stats in rows:
            self.d.vm_stats[vm_id] = (at, stats)

    def placements(self, vm_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        found = (self.get_vm(vm_id) for vm_id in vm_ids)
        return {
            vm.vm_id: (int(vm.status), vm.host_id, vm.migrating_to_host, vm.status_time, vm.status_time_host)
            for vm in found
            if vm is not None
        }

    def names(self, vm_ids: Sequence[str]) -> dict[str, str]:
        return {v: self.d.vms[v].name for v in vm_ids if v in self.d.vms}

    def get_vm(self, vm_id: str) -> VmState | None:
        return self.d.vms.get(vm_id)

    def list_vms(self, host_id: str | None = None) -> list[VmState]:
        vms = [v for v in self.d.vms.values() if host_id is None or v.host_id == host_id]
        return sorted(vms, key=lambda v: (v.name, v.vm_id))

    def get_vm_stats(self, vm_id: str) -> tuple[float, VmStats] | None:
        return self.d.vm_stats.get(vm_id)


class FakeOutbox:
    def __init__(self, data: FakeData) -> None:
        self.d = data

    def add(
        self, events: Sequence[Event], subscribers: Sequence[str], now: float | None = None
    ) -> list[tuple[int, Event]]:
        known = {key for key, _ in self.d.outbox.values()}
        added = []
        for event in events:
            key = dedup_key(event.to_record())
            if key in known:
                continue
            known.add(key)
            self.d.last_id += 1
            outbox_id = self.d.last_id
            self.d.outbox[outbox_id] = (key, event)
            for s in subscribers:
                self.d.deliveries[(s, outbox_id)] = 0.0
            added.append((outbox_id, event))
        return added

    def pending(
        self, subscriber: str, limit: int = 500, now: float | None = None, max_attempts: int | None = None
    ) -> list[tuple[int, Event]]:
        ids = sorted(
            i for (s, i), due in self.d.deliveries.items()
            if s == subscriber and (now is None or due <= now)
            and (max_attempts is None or self.d.delivery_attempts.get((s, i), 0) < max_attempts)
        )
        return [(i, self.d.outbox[i][1]) for i in ids[:limit]]

    def attempts(self, subscriber: str, ids: Iterable[int]) -> dict[int, int]:
        return {i: self.d.delivery_attempts.get((subscriber, i), 0) for i in ids if (subscriber, i) in self.d.deliveries}

    def mark_delivered(self, subscriber: str, ids: Iterable[int]) -> None:
        for i in ids:
            self.d.deliveries.pop((subscriber, i), None)

    def mark_failed(self, subscriber: str, ids: Iterable[int], error: str, next_attempt_at: float) -> None:
        for i in ids:
            if (subscriber, i) in self.d.deliveries:
                self.d.deliveries[(subscriber, i)] = next_attempt_at
                self.d.delivery_attempts[(subscriber, i)] = self.d.delivery_attempts.get((subscriber, i), 0) + 1

    def pending_count(self, subscriber: str | None = None) -> int:
        return sum(1 for s, _ in self.d.deliveries if subscriber is None or s == subscriber)


class FakeCommands:
    def __init__(self, data: FakeData) -> None:
        self.d = data

    def add(self, items: Sequence[tuple[Command, str]], now: float) -> list[str]:
        keys = []
        for command, once in items:
            key = command_key(command, once)
            self.d.commands.setdefault(key, {"command": command, "state": PENDING, "attempts": 0, "at": now})
            keys.append(key)
        return keys

    def due(self, now: float, limit: int = 100, host_id: str | None = None) -> list[PendingCommand]:
        rows = [
            PendingCommand(k, r["command"], r["attempts"])
            for k, r in self.d.commands.items()
            if r["state"] == PENDING and r["at"] <= now and (host_id is None or r["command"].host_id == host_id)
        ]
        return rows[:limit]

    def state(self, key: str) -> str | None:
        row = self.d.commands.get(key)
        return row["state"] if row else None

    def mark_done(self, key: str) -> None:
        self.d.commands[key].update(state=DONE, attempts=self.d.commands[key]["attempts"] + 1)

    def mark_failed(self, key: str, error: str, next_attempt_at: float | None) -> None:
        row = self.d.commands[key]
        row["attempts"] += 1
        if next_attempt_at is None:
            row["state"] = FAILED
        else:
            row["at"] = next_attempt_at


class FakeAudit:
    def __init__(self, data: FakeData) -> None:
        self.d = data

    def add(self, outbox_id: int | None, event: Event) -> None:
        self.add_many([(outbox_id, event)])

    def add_many(self, items: Sequence[tuple[int | None, Event]]) -> None:
        logged = {e.outbox_id for e in self.d.audit}
        for outbox_id, event in items:
            if outbox_id is not None and outbox_id in logged:
                continue
            logged.add(outbox_id)
            entry = AuditEntry(
                len(self.d.audit) + 1,
                event.at,
                event.severity,
                event.host_id,
                getattr(event, "vm_id", None) or None,
                type(event).__name__,
                event.describe(),
                outbox_id,
            )
            self.d.audit.append(entry)

    def recent(self, limit: int = 50, host_id: str | None = None) -> list[AuditEntry]:
        lines = [e for e in reversed(self.d.audit) if host_id is None or e.host_id == host_id]
        return lines[:limit]

    def after(self, last_id: int, limit: int = 500) -> list[AuditEntry]:
        return [e for e in self.d.audit if e.id > last_id][:limit]


class FakeUnitOfWork:
    """Shares one FakeData between blocks; a block works on a copy until commit()."""

    def __init__(self, data: FakeData | None = None) -> None:
        self.data = data or FakeData()
        self.commits = 0
        self._work: FakeData | None = None

    def __enter__(self) -> Self:
        self._work = copy.deepcopy(self.data)
        self._bind(self._work)
        return self

    def __exit__(self, *exc: object) -> None:
        self._work = None

    def _bind(self, work: FakeData) -> None:
        self.hosts, self.vms, self.outbox = FakeHosts(work), FakeVms(work), FakeOutbox(work)
        self.commands, self.audit = FakeCommands(work), FakeAudit(work)

    def commit(self) -> None:
        assert self._work is not None, "commit outside a with block"
        self.data = self._work
        self._work = copy.deepcopy(self.data)
        self._bind(self._work)
        self.commits += 1

    def rollback(self) -> None:
        self._work = copy.deepcopy(self.data)
        self._bind(self._work)
