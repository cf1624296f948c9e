"""Built-in subscribers: the audit log (a DB table) and the live feed (a Redis stream).

A subscriber takes a batch of (outbox id, event) and must be idempotent: delivery
is at least once, so the same outbox id may arrive again after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import orjson
import redis

from vurti.domain.events import Event
from vurti.runtime import keys

LIVE_FEED_MAXLEN = 100_000


class Subscriber(Protocol):
    name: str

    def handle(self, items: Sequence[tuple[int, Event]]) -> None: ...


class AuditLog:
    """One readable line per event in the audit_log table, like oVirt's audit log."""

    name = "audit"

    def __init__(self, uow_factory: Callable[[], object]) -> None:
        self._uow_factory = uow_factory

    def handle(self, items: Sequence[tuple[int, Event]]) -> None:
        with self._uow_factory() as uow:  # type: ignore[attr-defined]
            uow.audit.add_many(items)
            uow.commit()


class LiveFeed:
    """Events on a capped Redis stream that `vurti events --follow` and dashboards read."""

    name = "live"

    def __init__(self, client: redis.Redis, stream: str = keys.EVENTS_STREAM) -> None:
        self._redis = client
        self._stream = stream

    def handle(self, items: Sequence[tuple[int, Event]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for outbox_id, event in items:
            record = event.to_record()
            pipe.xadd(
                self._stream,
                {
                    "outbox_id": str(outbox_id),
                    "type": record["type"],
                    "severity": event.severity,
                    "host_id": event.host_id,
                    "at": repr(event.at),
                    "message": event.describe(),
                    "data": orjson.dumps(record["data"]),
                },
                maxlen=LIVE_FEED_MAXLEN,
                approximate=True,
            )
        pipe.execute()
