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

# KEYS: stream, seen set. ARGV: maxlen, then per event: outbox id, then its field/value pairs
# (count first). An outbox id already in the seen set (a redelivery) adds nothing; the set
# keeps the newest ids, as many as the stream keeps entries.
_ADD_ONCE = """
local added = 0
local i = 2
while i <= #ARGV do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  if redis.call('ZADD', KEYS[2], 'NX', id, id) == 1 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    added = added + 1
  end
  i = i + 2 + n
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[1]) - 1)
return added
"""


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
        self._seen = f"{stream}:seen"
        self._add_once = client.register_script(_ADD_ONCE)

    def handle(self, items: Sequence[tuple[int, Event]]) -> None:
        """Append each event once per outbox id: delivery is at least once, the feed shows it once."""
        args: list[bytes | str | int] = [LIVE_FEED_MAXLEN]
        for outbox_id, event in items:
            record = event.to_record()
            fields: dict[str, bytes | str] = {
                "outbox_id": str(outbox_id),
                "type": record["type"],
                "severity": event.severity,
                "host_id": event.host_id,
                "at": repr(event.at),
                "message": event.describe(),
                "data": orjson.dumps(record["data"]),
            }
            args += [outbox_id, 2 * len(fields)]
            for name, value in fields.items():
                args += [name, value]
        if items:
            self._add_once(keys=[self._stream, self._seen], args=args)
