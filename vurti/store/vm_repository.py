"""VMs: dynamic state written as changed columns only, statistics in bulk.

Writes are batched the way oVirt's VmsMonitoring flushes them: all VMs that change
the same set of columns go in one executemany, so a cycle with 20 VMs changing
status costs one UPDATE execution, not 20.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection

from vurti.domain.devices import VmDevice
from vurti.domain.model import VmState, VmUsage, changed_fields
from vurti.domain.report import VmStats
from vurti.domain.status import VmStatus
from vurti.store.codec import Codec
from vurti.store.errors import OutOfScope
from vurti.store.scope import Scope, ScopeGuard
from vurti.store.sqlutil import BulkStatement, bulk_upsert, encode_json, json_columns, upsert
from vurti.store.tables import vds_static, vm_devices, vm_dynamic, vm_static, vm_statistics
from vurti.store.vm_codec import KEY, VM, split, vm_columns

VM_STATS = Codec(VmStats)
DEVICE = Codec(VmDevice)
_DEVICES_OF = select(vm_devices).where(vm_devices.c.vm_id.in_(bindparam("ids", expanding=True)))
_DEVICE_DELETE = delete(vm_devices).where(
    and_(vm_devices.c.vm_id == bindparam("_vm"), vm_devices.c.device_id == bindparam("_device"))
)
VM_USAGE = Codec(VmUsage)
_NO_USAGE = VmUsage()
# One statistics row: the VM, the time, VmStats' fields, VmUsage's fields (columns named after fields).
_STATS_UPSERT = bulk_upsert(
    vm_statistics, [KEY], [KEY, "updated_at", *VM_STATS.columns.values(), *VM_USAGE.columns.values()]
)
_JSON_COLUMNS = json_columns(vm_statistics) | json_columns(vm_dynamic) | json_columns(vm_static)
_STATS_FIELDS = tuple((f, f in _JSON_COLUMNS) for f in VM_STATS.columns)
_USAGE_FIELDS = tuple((f, f in _JSON_COLUMNS) for f in VM_USAGE.columns)


def _stats_row(vm_id: str, at: float, stats: VmStats, usage: VmUsage) -> tuple[Any, ...]:
    return (
        vm_id,
        at,
        *[encode_json(getattr(stats, f)) if js else getattr(stats, f) for f, js in _STATS_FIELDS],
        *[encode_json(getattr(usage, f)) if js else getattr(usage, f) for f, js in _USAGE_FIELDS],
    )


_KEY_PARAM = "_key"
# Built once (construction costs more than execution); SET columns come from each row's keys.
_UPDATE_BY_KEY = {t.name: update(t).where(t.c[KEY] == bindparam(_KEY_PARAM)) for t in (vm_static, vm_dynamic)}


@lru_cache(maxsize=512)
def _update_by_key(table: Table, columns: tuple[str, ...]) -> BulkStatement:
    """UPDATE table SET columns WHERE vm_id = :_key; each row is the columns' values, then the VM's id."""
    return BulkStatement(lambda _dialect: _UPDATE_BY_KEY[table.name], (*columns, _KEY_PARAM))
_c = vm_dynamic.c
_PLACEMENTS = select(_c.vm_id, _c.status, _c.run_on_host, _c.migrating_to_host, _c.status_time,
                     _c.status_time_host, _c.down_seen_on_host).where(_c.vm_id.in_(bindparam("ids", expanding=True)))
_PLACEMENTS_LOCKED = _PLACEMENTS.with_for_update()


class VmRepository:
    def __init__(self, connection: Connection, scope: Scope | None = None, guard: ScopeGuard | None = None) -> None:
        self._conn = connection
        self.scope = scope or Scope()
        self._guard = guard or ScopeGuard(connection, self.scope)

    def save_vms(self, previous: Mapping[str, VmState], changed: Sequence[VmState]) -> int:
        """Insert VMs absent from `previous`, update only the changed columns of the others.

        New VMs are upserted (vm_static: insert if absent, keeping an administrator's
        configuration; vm_dynamic: insert or overwrite with the full state), so
        applying the same change twice is harmless. A scoped repository writes a VM
        only if its host before or after the change is in scope (or it has none).
        Returns the number of VMs written.
        """
        latest = {vm.vm_id: vm for vm in changed}  # the last state of a VM listed twice wins
        self._check_scope(previous, latest.values())
        new_static: list[dict[str, Any]] = []
        new_dynamic: list[dict[str, Any]] = []
        groups: dict[tuple[Table, tuple[str, ...]], list[tuple[Any, ...]]] = defaultdict(list)
        updated: set[str] = set()
        for vm in latest.values():
            old = previous.get(vm.vm_id)
            if old is None:
                static, dynamic = split(VM.to_row(vm))
                new_static.append({KEY: vm.vm_id, **static})
                new_dynamic.append({KEY: vm.vm_id, **dynamic})
                continue
            static, dynamic = split(VM.encode(changed_fields(old, vm)))
            for table, values in ((vm_static, static), (vm_dynamic, dynamic)):
                if values:
                    columns = tuple(sorted(values))
                    groups[(table, columns)].append(
                        (*[encode_json(values[c]) if c in _JSON_COLUMNS else values[c] for c in columns], vm.vm_id))
                    updated.add(vm.vm_id)
        upsert(self._conn, vm_static, new_static, [KEY], update=False)
        upsert(self._conn, vm_dynamic, new_dynamic, [KEY])
        for (table, columns), rows in groups.items():
            _update_by_key(table, columns).execute(self._conn, rows)  # one executemany per column set
        return len(new_static) + len(updated)

    def _check_scope(self, previous: Mapping[str, VmState], changed: Any) -> None:
        if self.scope.is_system:
            return
        refs: dict[str, set[str]] = {}
        for vm in changed:
            old = previous.get(vm.vm_id)
            refs[vm.vm_id] = {h for h in (vm.host_id, old.host_id if old else None) if h is not None}
        allowed = self._guard.inside(set().union(*refs.values()) if refs else set())
        refused = sorted(vm_id for vm_id, hosts in refs.items() if hosts and not hosts & allowed)
        if refused:
            raise OutOfScope(f"VMs on hosts outside {self.scope}: {refused}")

    def save_vm_stats(
        self, rows: Sequence[tuple[str, VmStats]], at: float, usage: Mapping[str, VmUsage] | None = None
    ) -> None:
        """Overwrite each VM's statistics row, usage included (none given: zero), all in one
        executemany upsert.

        Keyed by VM only: the caller passes the VMs of a host it has already fenced.
        """
        if not rows:
            return
        latest = dict(rows)
        usage = usage or {}
        _STATS_UPSERT.execute(
            self._conn, [_stats_row(vm_id, at, stats, usage.get(vm_id, _NO_USAGE)) for vm_id, stats in latest.items()]
        )

    def devices_of(self, vm_ids: Sequence[str]) -> dict[str, tuple[VmDevice, ...]]:
        """The stored devices of these VMs (only VMs that have some are keys), in one query."""
        out: dict[str, list[VmDevice]] = defaultdict(list)
        for row in self._conn.execute(_DEVICES_OF, {"ids": list(vm_ids)}).mappings():
            out[row["vm_id"]].append(DEVICE.from_row(row))
        return {vm_id: tuple(sorted(devices, key=lambda d: d.device_id)) for vm_id, devices in out.items()}

    def save_devices(self, saved: Sequence[tuple[str, VmDevice]], removed: Sequence[tuple[str, str]],
                     at: float) -> None:
        """Upsert (VM id, device) rows and delete (VM id, device id) rows; one statement each."""
        if saved:
            latest = {(vm_id, d.device_id): (vm_id, d) for vm_id, d in saved}
            rows = [{"vm_id": vm_id, "updated_at": at, **DEVICE.to_row(d)} for vm_id, d in latest.values()]
            upsert(self._conn, vm_devices, rows, ["vm_id", "device_id"])
        if removed:
            self._conn.execute(_DEVICE_DELETE, [{"_vm": vm_id, "_device": device_id} for vm_id, device_id in removed])

    def placements(self, vm_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """(status, run-on host, migration target, statusTime, its host, a Down record seen elsewhere) of
        each VM, locked until commit on PostgreSQL: what two hosts' updates of one VM (a migration)
        must agree on."""
        if not vm_ids:
            return {}
        stmt = _PLACEMENTS_LOCKED if self._conn.dialect.name == "postgresql" else _PLACEMENTS
        return {row[0]: tuple(row[1:]) for row in self._conn.execute(stmt, {"ids": list(vm_ids)})}

    def names(self, vm_ids: Sequence[str]) -> dict[str, str]:
        """VM id -> name, for lines people read (one query)."""
        if not vm_ids:
            return {}
        stmt = select(vm_static.c.vm_id, vm_static.c.name).where(vm_static.c.vm_id.in_(sorted(set(vm_ids))))
        return dict(self._conn.execute(stmt).all())  # rows, not the result: it has keys(), so dict() would read it as a mapping

    def find(self, name_or_id: str) -> list[VmState]:
        """The VM with this id, else the VMs with this name (names need not be unique)."""
        by_id = self._select(vm_dynamic.c.vm_id == name_or_id)
        return by_id or self._select(vm_static.c.name == name_or_id)

    def set_config(self, vm_id: str, auto_start: bool, lease_sd_id: str | None) -> None:
        """An administrator's settings (vm_static): monitoring never writes them."""
        self._conn.execute(update(vm_static).where(vm_static.c.vm_id == vm_id)
                           .values(auto_start=auto_start, lease_sd_id=lease_sd_id))

    def get_vm(self, vm_id: str) -> VmState | None:
        vms = self._select(vm_dynamic.c.vm_id == vm_id)
        return vms[0] if vms else None

    def list_vms(self, host_id: str | None = None) -> list[VmState]:
        """VMs running on `host_id`, or every VM in scope (on a host of the scope)."""
        if host_id is not None:
            self._guard.require([host_id])
            return self._select(vm_dynamic.c.run_on_host == host_id)
        return self._select(None)

    def count_by_status(self) -> dict[VmStatus, int]:
        """How many VMs are in each status (one aggregate query, for summaries)."""
        stmt = select(vm_dynamic.c.status, func.count()).group_by(vm_dynamic.c.status)
        return {VmStatus(int(status)): int(n) for status, n in self._conn.execute(stmt)}

    def count_hosts_running_vms(self) -> int:
        """How many hosts have a VM recorded on them (one aggregate query)."""
        stmt = select(func.count(func.distinct(vm_dynamic.c.run_on_host))).where(vm_dynamic.c.run_on_host.is_not(None))
        return int(self._conn.execute(stmt).scalar_one())

    def _select(self, condition: Any) -> list[VmState]:
        stmt = select(*vm_columns()).select_from(vm_dynamic.join(vm_static, vm_static.c.vm_id == vm_dynamic.c.vm_id))
        if condition is not None:
            stmt = stmt.where(condition)
        if self.scope.cluster_ids is not None:
            stmt = stmt.join(vds_static, vds_static.c.id == vm_dynamic.c.run_on_host).where(
                vds_static.c.cluster_id.in_(sorted(self.scope.cluster_ids))
            )
        stmt = stmt.order_by(vm_static.c.name, vm_static.c.vm_id)
        return [VM.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def get_vm_stats(self, vm_id: str) -> tuple[float, VmStats] | None:
        row = self._conn.execute(select(vm_statistics).where(vm_statistics.c.vm_id == vm_id)).mappings().first()
        return (row["updated_at"], VM_STATS.from_row(row)) if row else None

    def get_vm_usage(self, vm_id: str) -> VmUsage | None:
        """The VM's usage and histories, as its statistics row holds them."""
        row = self._conn.execute(select(vm_statistics).where(vm_statistics.c.vm_id == vm_id)).mappings().first()
        return VM_USAGE.from_row(row) if row else None
