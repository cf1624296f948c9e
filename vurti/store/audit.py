"""The audit log: one readable line per event, like oVirt's audit_log.

Filled by the audit subscriber from the outbox. Delivery is at least once, so the
outbox id is UNIQUE here and a redelivered event is logged once. Ids grow with
insertion, which `after` relies on for `vurti events --follow`; on PostgreSQL a
line committed late by a concurrent writer can carry an id lower than one already
shown (a follower may miss it; `recent` still lists it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from vurti.domain.events import Event
from vurti.store.sqlutil import insert_for
from vurti.store.tables import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    severity: str
    host_id: str | None
    vm_id: str | None
    event_type: str
    message: str
    outbox_id: int | None

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.message}"


def _row(outbox_id: int | None, event: Event) -> dict[str, object]:
    return {
        "at": event.at,
        "severity": event.severity,
        "host_id": event.host_id,
        "vm_id": getattr(event, "vm_id", None) or None,
        "event_type": type(event).__name__,
        "message": event.describe(),
        "outbox_id": outbox_id,
    }


class AuditLogRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, outbox_id: int | None, event: Event) -> None:
        self.add_many([(outbox_id, event)])

    def add_many(self, items: Sequence[tuple[int | None, Event]]) -> None:
        """Log events, skipping outbox ids already logged; one executemany."""
        if not items:
            return
        stmt = insert_for(self._conn, audit_log).on_conflict_do_nothing(index_elements=["outbox_id"])
        self._conn.execute(stmt, [_row(i, e) for i, e in items])

    def recent(self, limit: int = 50, host_id: str | None = None) -> list[AuditEntry]:
        """The newest lines, newest first."""
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if host_id is not None:
            stmt = stmt.where(audit_log.c.host_id == host_id)
        return [AuditEntry(**row) for row in self._conn.execute(stmt).mappings()]

    def after(self, last_id: int, limit: int = 500) -> list[AuditEntry]:
        """Lines with an id above `last_id`, oldest first (for following the log)."""
        stmt = select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(limit)
        return [AuditEntry(**row) for row in self._conn.execute(stmt).mappings()]
