"""Event delivery after commit: real SQLite outbox, real redis-server live feed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis

from vurti.bus.messagebus import MessageBus
from vurti.bus.subscribers import AuditLog, LiveFeed
from vurti.domain.events import Event, HostStatusChanged, VmDown
from vurti.runtime import keys
from vurti.store.db import make_engine, upgrade
from vurti.store.unit_of_work import SqlUnitOfWork


class Flaky:
    name = "flaky"

    def __init__(self) -> None:
        self.broken = True
        self.got: list[int] = []

    def handle(self, items: Sequence[tuple[int, Event]]) -> None:
        if self.broken:
            raise RuntimeError("subscriber down")
        self.got.extend(i for i, _ in items)


@pytest.fixture()
def parts(tmp_path: Path, redis_url: str) -> Iterator[tuple[object, redis.Redis]]:
    url = f"sqlite:///{tmp_path / 'bus.db'}"
    upgrade(url)
    engine = make_engine(url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield (lambda: SqlUnitOfWork(engine)), client
    client.close()
    engine.dispose()


def _record(uow_factory: object, bus: MessageBus, events: list[Event]) -> list[tuple[int, Event]]:
    with uow_factory() as uow:  # type: ignore[operator]
        items = uow.outbox.add(events, bus.names, 1.0)
        uow.commit()
    return items


def test_a_failing_subscriber_neither_blocks_others_nor_loses_events(parts: tuple[object, redis.Redis]) -> None:
    uow_factory, client = parts
    flaky = Flaky()
    bus = MessageBus({AuditLog(uow_factory): None, LiveFeed(client): None, flaky: (VmDown,)}, uow_factory)
    events: list[Event] = [
        HostStatusChanged("h1", 1.0, old="Unassigned", new="Up"),
        VmDown("h1", 2.0, vm_id="v1", exit_code=1, exit_reason=2, exit_message="boom"),
    ]
    items = _record(uow_factory, bus, events)
    failures = bus.deliver(items)
    assert failures == {"flaky": 1}
    with uow_factory() as uow:  # type: ignore[operator]
        lines = [e.message for e in uow.audit.recent(10)]
        assert uow.outbox.pending("audit") == [] and uow.outbox.pending("live") == []
        assert [i for i, _ in uow.outbox.pending("flaky")] == [i for i, _ in items]
    assert any("is down with error" in line for line in lines) and len(lines) == 2
    feed = client.xrange(keys.EVENTS_STREAM)
    assert [f[b"type"] for _, f in feed] == [b"HostStatusChanged", b"VmDown"]
    # Still failing: nothing is lost.
    assert bus.drain() == 0
    flaky.broken = False
    assert bus.drain() == 1  # only VmDown is of a type it takes
    assert flaky.got == [items[1][0]]
    with uow_factory() as uow:  # type: ignore[operator]
        assert uow.outbox.pending("flaky") == []


def test_redelivery_does_not_duplicate_audit_lines(parts: tuple[object, redis.Redis]) -> None:
    uow_factory, client = parts
    audit = AuditLog(uow_factory)
    bus = MessageBus({audit: None}, uow_factory)
    items = _record(uow_factory, bus, [HostStatusChanged("h1", 1.0, old="Up", new="Connecting")])
    audit.handle(items)  # delivered once, then again as after a crash before marking
    bus.deliver(items)
    with uow_factory() as uow:  # type: ignore[operator]
        assert len(uow.audit.recent(10)) == 1
