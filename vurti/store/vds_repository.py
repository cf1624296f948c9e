"""Hosts: clusters, host configuration, dynamic state, statistics, and the snapshot the analyzers read.

Repositories never commit: they run in the unit of work's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, get_type_hints

import msgspec
from sqlalchemy import ARRAY, JSON, String, Text, and_, any_, bindparam, cast, delete, exists, or_, select, update
from sqlalchemy.engine import Connection

from vurti.domain.model import (
    Cluster,
    HostConfig,
    HostSnapshot,
    HostState,
    PendingOperation,
    VmState,
    VmUsage,
    changed_fields,
)
from vurti.domain.report import HostStats
from vurti.domain.status import RUNNING_VM_STATUSES, HostStatus
from vurti.store.codec import Codec
from vurti.store.errors import HostInUse, HostNotFound, OutOfScope
from vurti.store.operation_repository import OperationRepository
from vurti.store.scope import Scope, ScopeGuard
from vurti.store.sqlutil import chunked, upsert
from vurti.store.tables import (
    clusters,
    host_commands,
    pending_operations,
    vds_dynamic,
    vds_static,
    vds_statistics,
    vm_dynamic,
    vm_static,
    vm_statistics,
)
from vurti.store.vm_codec import VM, vm_columns
from vurti.store.vm_repository import VM_USAGE

CLUSTER = Codec(Cluster)
HOST_CONFIG = Codec(HostConfig)
HOST_STATE = Codec(HostState, {"host_id": "vds_id"})
HOST_STATS = Codec(HostStats)

_STATE_COLUMNS = [vds_dynamic.c[c] for c in HOST_STATE.columns.values()]
# vm_dynamic columns naming a host, whose status the analyzers may need.
_HOST_REFS = tuple(c for c in ("run_on_host", "migrating_to_host", "migrating_from_host") if c in vm_dynamic.c)
_CLUSTER_COLUMNS = [clusters.c[c].label(f"cluster__{c}") for c in CLUSTER.columns.values()]
# A VM's usage (histories, NIC counters) from its statistics row, for the next statistics cycle.
# JSON columns come as their text and are decoded straight into their types (no dicts between).
_USAGE_COLUMNS = [
    (cast(vm_statistics.c[c], Text) if isinstance(vm_statistics.c[c].type, JSON) else vm_statistics.c[c])
    .label(f"usage__{c}") for c in VM_USAGE.columns.values()
]
_HAS_USAGE = vm_statistics.c.vm_id.label("usage__vm_id")
_USAGE_HINTS = get_type_hints(VmUsage)
_USAGE_DECODERS = tuple(  # in VmUsage's field order (its columns are named after its fields)
    (f"usage__{c}", msgspec.json.Decoder(_USAGE_HINTS[c]) if isinstance(vm_statistics.c[c].type, JSON) else None)
    for c in VM_USAGE.columns.values()
)


# Statements of the update path, built once: their construction costs more than their execution.
_FENCE = update(vds_dynamic).where(
    and_(vds_dynamic.c.vds_id == bindparam("_host"), vds_dynamic.c.fence_token <= bindparam("_token"))
)
# ...and no other writer since the snapshot was read (the token it saw is still the stored one).
_FENCE_SEEN = update(vds_dynamic).where(
    and_(vds_dynamic.c.vds_id == bindparam("_host"), vds_dynamic.c.fence_token <= bindparam("_token"),
         vds_dynamic.c.fence_token == bindparam("_seen"))
)


def _in(column: Any, name: str, dialect: str) -> Any:
    """column IN :name: one array parameter on PostgreSQL (one plan whatever the count), an expanding IN elsewhere."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


@lru_cache(maxsize=8)
def _snapshot_hosts_statement(dialect: str) -> Any:
    """Hosts :hosts with their dynamic state, fence token and cluster, and whether an engine operation
    concerns them (an index probe each on a table of a few rows: no query of its own when none does)."""
    ops = pending_operations.c
    has_operations = exists().where(or_(ops.host_id == vds_static.c.id, ops.destination_host_id == vds_static.c.id))
    return (
        select(vds_static, *_STATE_COLUMNS[1:], vds_dynamic.c.fence_token, *_CLUSTER_COLUMNS,
               has_operations.label("has_operations"))
        .join(vds_dynamic, vds_dynamic.c.vds_id == vds_static.c.id)
        .join(clusters, clusters.c.id == vds_static.c.cluster_id)
        .where(_in(vds_static.c.id, "hosts", dialect))
    )


@lru_cache(maxsize=8)
def _snapshot_vms_statement(dialect: str, with_hosts: bool) -> Any:
    """VMs on or migrating to one of :hosts, or among :reported, each joined to the status
    and name of the hosts it names."""
    joined = vm_dynamic.join(vm_static, vm_static.c.vm_id == vm_dynamic.c.vm_id)
    status_columns = []
    for ref in _HOST_REFS:
        other = vds_dynamic.alias(f"{ref}__host")
        named = vds_static.alias(f"{ref}__static")
        joined = joined.outerjoin(other, other.c.vds_id == vm_dynamic.c[ref])
        joined = joined.outerjoin(named, named.c.id == vm_dynamic.c[ref])
        status_columns.append(other.c.status.label(f"{ref}__status"))
        status_columns.append(named.c.name.label(f"{ref}__name"))
    joined = joined.outerjoin(vm_statistics, vm_statistics.c.vm_id == vm_dynamic.c.vm_id)
    base = select(*vm_columns(), *status_columns, _HAS_USAGE, *_USAGE_COLUMNS).select_from(joined)
    reported = _in(vm_dynamic.c.vm_id, "reported", dialect)
    if not with_hosts:
        return base.where(reported)
    return base.where(
        or_(_in(vm_dynamic.c.run_on_host, "hosts", dialect), _in(vm_dynamic.c.migrating_to_host, "hosts", dialect),
            reported)
    )


def _usage(row: Any) -> VmUsage | None:
    """The usage a snapshot row carries from the VM's statistics row; None: the VM has none yet."""
    if row["usage__vm_id"] is None:
        return None
    return VmUsage(*[row[label] if decoder is None else decoder.decode(row[label]) for label, decoder in _USAGE_DECODERS])


@lru_cache(maxsize=8)
def _fence_check_statement(dialect: str) -> Any:
    return select(vds_dynamic.c.vds_id, vds_dynamic.c.fence_token).where(_in(vds_dynamic.c.vds_id, "hosts", dialect))


class VdsRepository:
    def __init__(self, connection: Connection, scope: Scope | None = None, guard: ScopeGuard | None = None) -> None:
        self._conn = connection
        self.scope = scope or Scope()
        self._guard = guard or ScopeGuard(connection, self.scope)

    # -- clusters -------------------------------------------------------------------------

    def add_cluster(self, cluster: Cluster) -> None:
        if not self.scope.allows_cluster(cluster.id):
            raise OutOfScope(f"cluster {cluster.id} is outside {self.scope}")
        self._conn.execute(clusters.insert().values(CLUSTER.to_row(cluster)))

    def save_cluster(self, cluster: Cluster) -> None:
        """Change an existing cluster's settings (interval, requirements)."""
        if not self.scope.allows_cluster(cluster.id):
            raise OutOfScope(f"cluster {cluster.id} is outside {self.scope}")
        self._conn.execute(clusters.update().where(clusters.c.id == cluster.id).values(CLUSTER.to_row(cluster)))

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        if not self.scope.allows_cluster(cluster_id):
            return None
        row = self._conn.execute(select(clusters).where(clusters.c.id == cluster_id)).mappings().first()
        return CLUSTER.from_row(row) if row else None

    def get_cluster_by_name(self, name: str) -> Cluster | None:
        stmt = self._scoped(select(clusters).where(clusters.c.name == name), clusters.c.id)
        row = self._conn.execute(stmt).mappings().first()
        return CLUSTER.from_row(row) if row else None

    def list_clusters(self) -> list[Cluster]:
        stmt = self._scoped(select(clusters), clusters.c.id).order_by(clusters.c.name)
        return [CLUSTER.from_row(r) for r in self._conn.execute(stmt).mappings()]

    # -- hosts --------------------------------------------------------------------------

    def add_host(self, config: HostConfig) -> None:
        """A new host starts Unassigned, with fence token 0."""
        if not self.scope.allows_cluster(config.cluster_id):
            raise OutOfScope(f"cluster {config.cluster_id} is outside {self.scope}")
        self._conn.execute(vds_static.insert().values(HOST_CONFIG.to_row(config)))
        self._conn.execute(vds_dynamic.insert().values(HOST_STATE.to_row(HostState(host_id=config.id))))
        self._guard.note_inside(config.id)

    def set_host_url(self, host_id: str, url: str) -> None:
        """A host's agent moved (a new address, or the same host re-registered): its id stays."""
        self._conn.execute(vds_static.update().where(vds_static.c.id == host_id).values(url=url))

    def remove_host(self, host_id: str) -> int:
        """Remove a host that runs no VM; return how many (stopped) VMs forgot it.

        Like oVirt, which removes only hosts without running VMs: a running or
        migrating VM on it raises HostInUse. VMs that last ran there stay, with no
        run-on-host; the host's pending commands are dropped; its dynamic and
        statistics rows go with it (ON DELETE CASCADE). The audit log keeps its lines.
        """
        self._guard.require([host_id])
        running = [int(s) for s in RUNNING_VM_STATUSES]
        busy = self._conn.execute(
            select(vm_dynamic.c.vm_id)
            .where(
                or_(vm_dynamic.c.run_on_host == host_id, vm_dynamic.c.migrating_to_host == host_id),
                vm_dynamic.c.status.in_(running),
            )
            .limit(1)
        ).first()
        if busy is not None:
            raise HostInUse(f"host {host_id} still runs VM {busy[0]}")
        detached = self._conn.execute(
            update(vm_dynamic).where(vm_dynamic.c.run_on_host == host_id).values(run_on_host=None)
        ).rowcount
        self._conn.execute(
            update(vm_dynamic).where(vm_dynamic.c.migrating_to_host == host_id).values(migrating_to_host=None)
        )
        self._conn.execute(
            delete(host_commands).where(host_commands.c.host_id == host_id, host_commands.c.state == "pending")
        )
        if self._conn.execute(delete(vds_static).where(vds_static.c.id == host_id)).rowcount == 0:
            raise HostNotFound(host_id)
        return int(detached)

    def get_host(self, host_id: str) -> HostConfig | None:
        rows = self._hosts(vds_static.c.id == host_id)
        return rows[0][0] if rows else None

    def get_host_by_name(self, name: str) -> HostConfig | None:
        rows = self._hosts(vds_static.c.name == name)
        return rows[0][0] if rows else None

    def get_host_state(self, host_id: str) -> HostState | None:
        rows = self._hosts(vds_static.c.id == host_id)
        return rows[0][1] if rows else None

    def list_hosts(self) -> list[tuple[HostConfig, HostState]]:
        return self._hosts(None)

    def list_host_configs(self) -> list[HostConfig]:
        """Every host's configuration alone: beat reads it every few seconds, at any fleet size."""
        stmt = self._scoped(select(vds_static), vds_static.c.cluster_id)
        return [HOST_CONFIG.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def _hosts(self, condition: Any) -> list[tuple[HostConfig, HostState]]:
        stmt = select(vds_static, *_STATE_COLUMNS[1:]).join(vds_dynamic, vds_dynamic.c.vds_id == vds_static.c.id)
        if condition is not None:
            stmt = stmt.where(condition)
        stmt = self._scoped(stmt, vds_static.c.cluster_id).order_by(vds_static.c.name)
        result = []
        for row in self._conn.execute(stmt).mappings():
            state = dict(row, vds_id=row["id"])
            result.append((HOST_CONFIG.from_row(row), HOST_STATE.from_row(state)))
        return result

    def _scoped(self, stmt: Any, cluster_column: Any) -> Any:
        if self.scope.cluster_ids is None:
            return stmt
        return stmt.where(cluster_column.in_(sorted(self.scope.cluster_ids)))

    # -- the analyzers' view --------------------------------------------------------------

    def load_snapshot(self, host_id: str, reported_vm_ids: Iterable[str] = ()) -> HostSnapshot | None:
        """Host, cluster, and every VM the analysis may touch; None when the host does not
        exist or is outside the scope. `load_snapshots` for one host."""
        return self.load_snapshots([(host_id, reported_vm_ids)]).get(host_id)

    def load_snapshots(self, requests: Sequence[tuple[str, Iterable[str]]]) -> dict[str, HostSnapshot]:
        """The snapshots of several hosts, in two queries whatever the host and VM counts.

        1: hosts static + dynamic + cluster. (Only when an engine operation is pending on one
        of the hosts: its operations, and their VMs join the reported ones.) 2: VMs that run on one of the hosts, migrate
        to one, or that one reported, each joined to the status of the hosts it refers
        to and to its statistics row's usage (histories, NIC counters: `vm_usage`); each
        VM goes into the snapshot of every host it concerns. (On SQLite, more
        than 5,000 reported ids take one more query per 5,000.) Hosts that do not
        exist or are outside the scope are absent from the result.
        """
        reported: dict[str, set[str]] = {}
        for host_id, vm_ids in requests:  # a host twice in one batch (two events, a twin message): both lists count
            reported.setdefault(host_id, set()).update(vm_ids)
        if not reported:
            return {}
        dialect = self._conn.dialect.name
        stmt = self._scoped(_snapshot_hosts_statement(dialect), vds_static.c.cluster_id)
        heads: dict[str, tuple[Cluster, HostConfig, HostState, int]] = {}
        with_operations: list[str] = []
        for row in self._conn.execute(stmt, {"hosts": sorted(reported)}).mappings():
            host_id = row["id"]
            if row["has_operations"]:
                with_operations.append(host_id)
            self._guard.note_inside(host_id)
            heads[host_id] = (
                CLUSTER.from_row({c: row[f"cluster__{c}"] for c in CLUSTER.columns.values()}),
                HOST_CONFIG.from_row(row),
                HOST_STATE.from_row(dict(row, vds_id=host_id)),
                int(row["fence_token"]),
            )
        if not heads:
            return {}
        vms: dict[str, dict[str, VmState]] = {h: {} for h in heads}
        usage: dict[str, dict[str, VmUsage]] = {h: {} for h in heads}
        statuses: dict[str, dict[str, HostStatus]] = {h: {} for h in heads}
        names: dict[str, dict[str, str]] = {h: {} for h in heads}
        claimed_by: dict[str, list[str]] = {}  # reported VM id -> the hosts that reported it
        for host_id in heads:
            for vm_id in reported[host_id]:
                claimed_by.setdefault(vm_id, []).append(host_id)
        operations: dict[str, dict[str, PendingOperation]] = {h: {} for h in heads}
        if with_operations:  # rare: an engine operation is pending on one of these hosts
            for op in OperationRepository(self._conn).for_hosts(with_operations):
                for host_id in heads.keys() & {op.host_id, op.destination_host_id}:
                    operations[host_id][op.vm_id] = op
                    if host_id not in claimed_by.setdefault(op.vm_id, []):  # its VM goes into the snapshot
                        claimed_by[op.vm_id].append(host_id)
        for row in self._snapshot_vm_rows(sorted(heads), sorted(claimed_by)):
            vm = VM.from_row(row)
            vm_usage = _usage(row)
            owners = {h for h in (row["run_on_host"], row["migrating_to_host"]) if h in heads}
            owners.update(claimed_by.get(vm.vm_id, ()))
            for host_id in owners:
                vms[host_id][vm.vm_id] = vm
                if vm_usage is not None:
                    usage[host_id][vm.vm_id] = vm_usage
                for ref in _HOST_REFS:
                    other, status = row[ref], row[f"{ref}__status"]
                    if other is not None and other != host_id and status is not None:
                        statuses[host_id][other] = HostStatus(status)
                        names[host_id][other] = row[f"{ref}__name"]
        return {
            host_id: HostSnapshot(
                cluster=cluster,
                config=config,
                state=state,
                vms=vms[host_id],
                host_statuses=statuses[host_id],
                fence_token=token,
                host_names=names[host_id],
                operations=operations[host_id],
                vm_usage=usage[host_id],
            )
            for host_id, (cluster, config, state, token) in heads.items()
        }

    def _snapshot_vm_rows(self, hosts: list[str], reported: list[str]) -> Iterable[Any]:
        dialect = self._conn.dialect.name
        if dialect == "postgresql":
            runs = [(_snapshot_vms_statement(dialect, True), {"hosts": hosts, "reported": reported})]
        else:
            parts = list(chunked(reported)) or [[]]
            runs = [(_snapshot_vms_statement(dialect, True), {"hosts": hosts, "reported": list(parts[0])})]
            runs.extend((_snapshot_vms_statement(dialect, False), {"reported": list(p)}) for p in parts[1:])
        for stmt, params in runs:
            result = self._conn.execute(stmt, params)
            names = list(result.keys())
            # Plain dicts: the codecs read each column by name, and a RowMapping lookup costs ~10x a dict's.
            yield from (dict(zip(names, row, strict=True)) for row in result.all())  # one fetchall

    # -- writes ---------------------------------------------------------------------------

    def fence(self, host_id: str, token: int, old: HostState | None = None, new: HostState | None = None) -> bool:
        """Record `token` as the newest writer of the host; False if a newer one already wrote.

        Runs in the caller's transaction and row-locks the host until commit, so a
        writer holding an older token (one that lost its lock) can never write after
        a newer one, whatever the order in which they reach the database. Given
        `old` and `new` states, their changed columns are written by the same
        statement (one round trip less), and only if the token is accepted.
        """
        return host_id in self.fence_many([(host_id, token, old, new)])

    def fence_many(self, items: Sequence[tuple[str, int, HostState | None, HostState | None]],
                   seen: Mapping[str, int] | None = None) -> set[str]:
        """`fence` for several hosts: one executemany per set of changed columns; the hosts accepted.

        `seen`: the token each host's snapshot read; a host another writer wrote since
        then is refused even with a newer token (two runs of one message, the second
        taking over the first's lock, must not both write on the same snapshot).
        When every row matched (the common case) the row counts say so; otherwise one
        SELECT tells which tokens are now the stored ones.
        """
        self._guard.require([host_id for host_id, *_ in items])
        seen = seen or {}
        groups: dict[tuple[frozenset[str], bool], list[dict[str, Any]]] = {}
        for host_id, token, old, new in items:
            values: dict[str, Any] = {}
            if old is not None and new is not None:
                if old.host_id != host_id or new.host_id != host_id:
                    raise ValueError(f"states of {old.host_id} / {new.host_id} fenced as {host_id}")
                values = HOST_STATE.encode(changed_fields(old, new))
            row = {**values, "fence_token": token, "_host": host_id, "_token": token}
            if host_id in seen:
                row["_seen"] = seen[host_id]
            # SET comes from the parameters' column names (one compiled form per column set).
            groups.setdefault((frozenset(values), host_id in seen), []).append(row)
        matched = sum(self._conn.execute(_FENCE_SEEN if checked else _FENCE, rows).rowcount
                      for (_, checked), rows in groups.items())
        if matched == len(items) and self._conn.dialect.supports_sane_multi_rowcount:
            return {host_id for host_id, *_ in items}
        tokens = {host_id: token for host_id, token, *_ in items}
        stored = self.fence_tokens(list(tokens))
        return {host_id for host_id, token in stored.items() if token == tokens[host_id]}

    def fence_tokens(self, host_ids: Sequence[str]) -> dict[str, int]:
        """The stored fencing token of each host."""
        self._guard.require(list(host_ids))
        rows = self._conn.execute(_fence_check_statement(self._conn.dialect.name), {"hosts": sorted(host_ids)})
        return {str(host_id): int(token) for host_id, token in rows}

    def fence_token(self, host_id: str) -> int | None:
        self._guard.require([host_id])
        value = self._conn.execute(select(vds_dynamic.c.fence_token).where(vds_dynamic.c.vds_id == host_id)).scalar()
        return None if value is None else int(value)

    def save_host_state(self, old: HostState, new: HostState) -> bool:
        """Write only the columns that differ between `old` and `new`; False when nothing did."""
        if old.host_id != new.host_id:
            raise ValueError(f"states of two hosts: {old.host_id} / {new.host_id}")
        changes = changed_fields(old, new)
        if not changes:
            return False
        self._guard.require([new.host_id])
        stmt = update(vds_dynamic).where(vds_dynamic.c.vds_id == new.host_id).values(HOST_STATE.encode(changes))
        if self._conn.execute(stmt).rowcount == 0:
            raise HostNotFound(new.host_id)
        return True

    def save_host_stats(self, host_id: str, stats: HostStats, at: float) -> None:
        """Overwrite the host's one statistics row."""
        self.save_host_stats_many([(host_id, stats)], at)

    def save_host_stats_many(self, items: Sequence[tuple[str, HostStats]], at: float) -> None:
        """Overwrite the statistics rows of several hosts in one executemany upsert."""
        if not items:
            return
        self._guard.require([host_id for host_id, _ in items])
        rows = []
        for host_id, stats in items:
            row = HOST_STATS.to_row(stats)
            row.update(vds_id=host_id, updated_at=at)
            rows.append(row)
        upsert(self._conn, vds_statistics, rows, ["vds_id"])

    def get_host_stats(self, host_id: str) -> tuple[float, HostStats] | None:
        self._guard.require([host_id])
        row = self._conn.execute(select(vds_statistics).where(vds_statistics.c.vds_id == host_id)).mappings().first()
        return (row["updated_at"], HOST_STATS.from_row(row)) if row else None
