"""Event delivery after commit: real SQLite outbox, real redis-server live feed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis

from vurti.bus.messagebus import MAX_ATTEMPTS, RETRY_AFTER, MessageBus, retry_delay
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
    now = [100.0]
    bus = MessageBus({AuditLog(uow_factory): None, LiveFeed(client): None, flaky: (VmDown,)}, uow_factory,
                     clock=lambda: now[0])
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
    assert bus.drain() == 0  # held back after the failure...
    now[0] += RETRY_AFTER
    assert bus.drain() == 1  # ...then retried; only VmDown is of a type it takes
    assert flaky.got == [items[1][0]]
    with uow_factory() as uow:  # type: ignore[operator]
        assert uow.outbox.pending("flaky") == []


def test_redelivery_does_not_duplicate_audit_lines(parts: tuple[object, redis.Redis]) -> None:
    uow_factory, _client = parts
    audit = AuditLog(uow_factory)
    bus = MessageBus({audit: None}, uow_factory)
    items = _record(uow_factory, bus, [HostStatusChanged("h1", 1.0, old="Up", new="Connecting")])
    audit.handle(items)  # delivered once, then again as after a crash before marking
    bus.deliver(items)
    with uow_factory() as uow:  # type: ignore[operator]
        assert len(uow.audit.recent(10)) == 1


class Picky:
    """Takes every event but those of one VM (a poison event for it); counts its calls."""

    name = "picky"

    def __init__(self, refuses: str) -> None:
        self.refuses = refuses
        self.got: list[int] = []
        self.calls = 0

    def handle(self, items: Sequence[tuple[int, Event]]) -> None:
        self.calls += 1
        if any(getattr(e, "vm_id", None) == self.refuses for _, e in items):
            raise ValueError(f"cannot take events of {self.refuses}")
        self.got.extend(i for i, _ in items)


def test_a_poison_event_is_retried_with_backoff_then_parked_and_later_events_flow(
    parts: tuple[object, redis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    uow_factory, _client = parts
    picky = Picky(refuses="bad")
    now = [1000.0]
    bus = MessageBus({picky: None}, uow_factory, clock=lambda: now[0])
    down = [VmDown("h1", float(t), vm_id=v, exit_code=1, exit_reason=2, exit_message="x")
            for t, v in enumerate(["bad", "v1", "v2"], start=1)]
    items = _record(uow_factory, bus, down)  # the poison event is the oldest
    assert bus.drain() == 2  # the two behind it are not held up
    assert picky.got == [i for i, _ in items[1:]]
    later = _record(uow_factory, bus, [VmDown("h1", 9.0, vm_id="v3", exit_code=1, exit_reason=2, exit_message="x")])
    assert bus.drain() == 1  # the poison event waits for its retry; v3 flows
    attempts = 1
    while attempts < MAX_ATTEMPTS:
        now[0] += retry_delay(attempts) - 1
        calls = picky.calls
        assert bus.drain() == 0 and picky.calls == calls  # not due yet: not even tried
        now[0] += 1
        assert bus.drain() == 0 and picky.calls > calls
        attempts += 1
    with uow_factory() as uow:  # type: ignore[operator]
        parked = uow.outbox.parked("picky", MAX_ATTEMPTS)
        assert parked == [(items[0][0], MAX_ATTEMPTS, "ValueError: cannot take events of bad")]
    assert any("parked after 8 failed attempts" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    calls = picky.calls
    now[0] += 10 * RETRY_AFTER * 2**MAX_ATTEMPTS
    assert bus.drain() == 0 and picky.calls == calls  # parked: no more retries
    assert picky.got == [i for i, _ in items[1:]] + [later[0][0]]
    picky.refuses = "none"  # the subscriber was fixed: the parked event goes through
    assert bus.retry_parked() == 1
    assert bus.drain() == 1 and picky.got[-1] == items[0][0]


def test_a_subscriber_that_is_down_costs_a_few_attempts_per_drain(parts: tuple[object, redis.Redis]) -> None:
    uow_factory, _client = parts
    flaky = Flaky()
    calls = []
    real = flaky.handle
    flaky.handle = lambda items: (calls.append(len(items)), real(items))  # type: ignore[method-assign]
    bus = MessageBus({flaky: None}, uow_factory, clock=lambda: 5.0)
    _record(uow_factory, bus, [HostStatusChanged(f"h{i}", 1.0, "Up", "Down") for i in range(20)])
    assert bus.drain() == 0
    assert calls == [20, 1, 1, 1]  # the batch, then three alone; the other 17 keep their attempts
    with uow_factory() as uow:  # type: ignore[operator]
        assert len(uow.outbox.pending("flaky", now=5.0, max_attempts=MAX_ATTEMPTS)) == 17


def test_the_live_feed_shows_a_redelivered_event_once(parts: tuple[object, redis.Redis]) -> None:
    """A worker killed after the stream write but before marking delivery: the drain sends it again."""
    uow_factory, client = parts
    feed = LiveFeed(client)
    bus = MessageBus({feed: None}, uow_factory)
    items = _record(uow_factory, bus, [HostStatusChanged(f"h{i}", 1.0, "Up", "Down") for i in range(3)])
    feed.handle(items[:2])
    feed.handle(items)  # redelivery of the first two, with the third
    feed.handle(items[1:])
    ids = [int(f[b"outbox_id"]) for _, f in client.xrange(keys.EVENTS_STREAM)]
    assert ids == [i for i, _ in items]


def test_an_outbox_row_that_cannot_be_read_back_is_parked_not_retried_forever(
    parts: tuple[object, redis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    import sqlalchemy as sa

    from vurti.store.tables import outbox

    uow_factory, _client = parts
    picky = Picky(refuses="none")
    bus = MessageBus({picky: None}, uow_factory, clock=lambda: 10.0)
    items = _record(uow_factory, bus, [HostStatusChanged(f"h{i}", 1.0, "Up", "Down") for i in range(3)])
    with uow_factory() as uow:  # type: ignore[operator]
        uow.connection.execute(sa.update(outbox).where(outbox.c.id == items[0][0])
                               .values(payload={"type": "NoSuchEvent", "data": {}}))
        uow.commit()
    assert bus.drain(limit=1) == 0  # the unreadable row filled the batch: parked now
    assert bus.drain(limit=1) == 1 and bus.drain(limit=1) == 1
    with uow_factory() as uow:  # type: ignore[operator]
        assert [p[0] for p in uow.outbox.parked("picky", MAX_ATTEMPTS)] == [items[0][0]]
    assert sum("cannot be read back" in r.getMessage() for r in caplog.records) == 1
