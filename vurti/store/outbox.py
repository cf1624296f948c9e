"""The outbox: events recorded with the state change, delivered after commit, at least once.

An event row is written in the update's transaction together with one delivery
row per named subscriber. After commit the bus hands the new rows to the
subscribers; each one that succeeds deletes its delivery row (mark_delivered), a
failing one keeps it and is retried later on its own (pending / mark_failed). A
process dying between commit and delivery loses nothing: the rows stay pending.

Each event carries a digest of its whole record (type, host, time, fields) under
a UNIQUE constraint, so the same analysis applied twice records its events once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import orjson
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.engine import Connection

from vurti.domain.events import Event, from_record
from vurti.store.sqlutil import chunked, insert_for
from vurti.store.tables import outbox, outbox_delivery

log = logging.getLogger(__name__)


def dedup_key(record: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


class OutboxRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(
        self, events: Sequence[Event], subscribers: Sequence[str], now: float | None = None
    ) -> list[tuple[int, Event]]:
        """Record events for every subscriber; return (outbox id, event) of those not already recorded.

        Two statements whatever the number of events: one multi-row INSERT ... ON
        CONFLICT DO NOTHING RETURNING, one executemany of delivery rows.
        """
        if not events:
            return []
        created = time.time() if now is None else now
        by_key: dict[str, Event] = {}
        rows = []
        for event in events:
            record = event.to_record()
            key = dedup_key(record)
            if key in by_key:
                continue
            by_key[key] = event
            rows.append(
                {
                    "host_id": event.host_id,
                    "event_type": record["type"],
                    "payload": record,
                    "created_at": created,
                    "dedup_key": key,
                }
            )
        stmt = insert_for(self._conn, outbox).on_conflict_do_nothing(index_elements=["dedup_key"])
        result = self._conn.execute(stmt.returning(outbox.c.id, outbox.c.dedup_key), rows)
        added = sorted((int(row.id), by_key[row.dedup_key]) for row in result)
        deliveries = [{"outbox_id": i, "subscriber": s} for i, _ in added for s in dict.fromkeys(subscribers)]
        if deliveries:
            self._conn.execute(outbox_delivery.insert(), deliveries)
        return added

    def pending(
        self, subscriber: str, limit: int = 500, now: float | None = None, max_attempts: int | None = None
    ) -> list[tuple[int, Event]]:
        """Events not yet delivered to `subscriber`, oldest first; with `now`, only those due for a retry;
        with `max_attempts`, not those parked after that many failed attempts.

        On PostgreSQL the rows are locked (SKIP LOCKED) until the transaction ends,
        so two dispatchers of one subscriber do not take the same events.
        """
        stmt = (
            select(outbox.c.id, outbox.c.payload)
            .join(outbox_delivery, outbox_delivery.c.outbox_id == outbox.c.id)
            .where(outbox_delivery.c.subscriber == subscriber)
            .order_by(outbox_delivery.c.outbox_id)
            .limit(limit)
        )
        if now is not None:
            stmt = stmt.where(outbox_delivery.c.next_attempt_at <= now)
        if max_attempts is not None:
            stmt = stmt.where(outbox_delivery.c.attempts < max_attempts)
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=outbox_delivery)
        result = []
        unreadable: list[int] = []
        for row in self._conn.execute(stmt):
            try:
                result.append((int(row.id), from_record(row.payload)))
            except (KeyError, TypeError, msgspec.ValidationError):
                unreadable.append(int(row.id))
        if unreadable and max_attempts is not None:
            # Parked at once (kept, not retried): otherwise they would fill every batch of the drain.
            log.error("outbox rows %s cannot be read back as events; parked for %s", unreadable, subscriber)
            self._conn.execute(
                update(outbox_delivery)
                .where(outbox_delivery.c.subscriber == subscriber, outbox_delivery.c.outbox_id.in_(unreadable))
                .values(attempts=max_attempts, last_error="cannot be read back as an event")
            )
        elif unreadable:
            log.warning("outbox rows %s cannot be read back as events; left pending", unreadable)
        return result

    def mark_delivered(self, subscriber: str, ids: Iterable[int]) -> None:
        for part in chunked(sorted(set(ids))):
            self._conn.execute(
                delete(outbox_delivery).where(
                    outbox_delivery.c.subscriber == subscriber, outbox_delivery.c.outbox_id.in_(part)
                )
            )

    def mark_failed(self, subscriber: str, ids: Iterable[int], error: str, next_attempt_at: float) -> None:
        """Count a failed attempt and hold the events back until `next_attempt_at`."""
        for part in chunked(sorted(set(ids))):
            self._conn.execute(
                update(outbox_delivery)
                .where(outbox_delivery.c.subscriber == subscriber, outbox_delivery.c.outbox_id.in_(part))
                .values(
                    attempts=outbox_delivery.c.attempts + 1, next_attempt_at=next_attempt_at, last_error=error[:2000]
                )
            )

    def attempts(self, subscriber: str, ids: Iterable[int]) -> dict[int, int]:
        """Failed attempts so far per outbox id (ids delivered meanwhile are left out)."""
        found: dict[int, int] = {}
        for part in chunked(sorted(set(ids))):
            rows = self._conn.execute(
                select(outbox_delivery.c.outbox_id, outbox_delivery.c.attempts).where(
                    outbox_delivery.c.subscriber == subscriber, outbox_delivery.c.outbox_id.in_(part)
                )
            )
            found.update((int(i), int(a)) for i, a in rows)
        return found

    def parked(self, subscriber: str, max_attempts: int) -> list[tuple[int, int, str | None]]:
        """(outbox id, attempts, last error) of the events given up on for `subscriber`."""
        rows = self._conn.execute(
            select(outbox_delivery.c.outbox_id, outbox_delivery.c.attempts, outbox_delivery.c.last_error)
            .where(outbox_delivery.c.subscriber == subscriber, outbox_delivery.c.attempts >= max_attempts)
            .order_by(outbox_delivery.c.outbox_id)
        )
        return [(int(i), int(a), e) for i, a, e in rows]

    def unpark(self, max_attempts: int, subscriber: str | None = None) -> int:
        """Give parked events (`max_attempts` failures) a fresh start; how many."""
        stmt = update(outbox_delivery).where(outbox_delivery.c.attempts >= max_attempts)
        if subscriber is not None:
            stmt = stmt.where(outbox_delivery.c.subscriber == subscriber)
        return int(self._conn.execute(stmt.values(attempts=0, next_attempt_at=0)).rowcount)

    def pending_count(self, subscriber: str | None = None) -> int:
        stmt = select(func.count()).select_from(outbox_delivery)
        if subscriber is not None:
            stmt = stmt.where(outbox_delivery.c.subscriber == subscriber)
        return int(self._conn.execute(stmt).scalar_one())

    def purge_delivered(self, older_than: float) -> int:
        """Delete events created before `older_than` that every subscriber has taken."""
        undelivered = exists().where(outbox_delivery.c.outbox_id == outbox.c.id)
        stmt = delete(outbox).where(and_(outbox.c.created_at < older_than, ~undelivered))
        return int(self._conn.execute(stmt).rowcount)
