"""Pending engine-started operations (runs, migrations): registered by the engine's API,
settled by the analysis that sees their outcome. One per VM; a new one replaces the old."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.engine import Connection

from vurti.domain.model import PendingOperation
from vurti.store.codec import Codec
from vurti.store.sqlutil import upsert
from vurti.store.tables import pending_operations

OPERATION = Codec(PendingOperation)
_t = pending_operations
_STORED = select(_t.c.vm_id, _t.c.started_at).where(_t.c.vm_id.in_(bindparam("ids", expanding=True)))
_STORED_LOCKED = _STORED.with_for_update()


class OperationRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def expect(self, op: PendingOperation) -> None:
        """Register `op`, replacing any operation pending for the same VM."""
        upsert(self._conn, _t, [OPERATION.to_row(op)], ["vm_id"])

    def get(self, vm_id: str) -> PendingOperation | None:
        row = self._conn.execute(select(_t).where(_t.c.vm_id == vm_id)).mappings().first()
        return OPERATION.from_row(row) if row else None

    def all(self) -> list[PendingOperation]:
        return [OPERATION.from_row(r) for r in self._conn.execute(select(_t).order_by(_t.c.started_at)).mappings()]

    def for_hosts(self, host_ids: Sequence[str]) -> list[PendingOperation]:
        """The operations that start, end or leave on one of the hosts."""
        stmt = select(_t).where(or_(_t.c.host_id.in_(host_ids), _t.c.destination_host_id.in_(host_ids)))
        return [OPERATION.from_row(r) for r in self._conn.execute(stmt).mappings()]

    def end(self, ops: Sequence[PendingOperation]) -> bool:
        """Delete settled operations, locked first (PostgreSQL); False, with nothing deleted, when
        one of them is no longer stored as it was read (settled or replaced by another update)."""
        if not ops:
            return True
        stmt = _STORED_LOCKED if self._conn.dialect.name == "postgresql" else _STORED
        stored: dict[str, Any] = dict(self._conn.execute(stmt, {"ids": [op.vm_id for op in ops]}).all())
        if any(stored.get(op.vm_id) != op.started_at for op in ops):
            return False
        self._conn.execute(delete(_t).where(_t.c.vm_id.in_([op.vm_id for op in ops])))
        return True
