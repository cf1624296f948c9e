"""The Redis poll schedule on a real redis-server."""

from __future__ import annotations

import threading

import pytest
import redis

from vurti.runtime import keys
from vurti.runtime.schedule import FULL_SYNC_EVERY, PollSchedule, chunks, first_slot, phase


def test_phase_is_stable_and_within_interval() -> None:
    assert phase("host-1", 3.0) == phase("host-1", 3.0)
    values = [phase(f"host-{i}", 3.0) for i in range(1000)]
    assert all(0 <= v < 3.0 for v in values)
    # Spread: every third of the interval gets a fair share of hosts.
    thirds = [sum(1 for v in values if k <= v < k + 1) for k in range(3)]
    assert min(thirds) > 250


def test_first_slot_is_not_in_the_past() -> None:
    for i in range(100):
        assert 1000.0 <= first_slot(f"h{i}", 3.0, 1000.0) < 1003.0


def test_claim_returns_due_hosts_once_per_interval(client: redis.Redis) -> None:
    schedule = PollSchedule(client, 3.0)
    for i in range(10):
        schedule.add(f"h{i}", 3.0, now=1000.0)
    first = schedule.claim_due(now=1003.0)
    assert sorted(c.host_id for c in first) == [f"h{i}" for i in range(10)]
    assert all(1000.0 <= c.due_at <= 1003.0 and c.interval == 3.0 for c in first)
    assert schedule.claim_due(now=1003.0) == []
    again = schedule.claim_due(now=1006.0)
    assert sorted(c.host_id for c in again) == [f"h{i}" for i in range(10)]
    # Each host moved exactly one interval forward.
    by_id = {c.host_id: c.due_at for c in first}
    assert all(abs(c.due_at - by_id[c.host_id] - 3.0) < 1e-6 for c in again)


def test_a_late_claim_skips_missed_slots_instead_of_replaying_them(client: redis.Redis) -> None:
    schedule = PollSchedule(client, 3.0)
    schedule.add("h", 3.0, now=1000.0)
    (claim,) = schedule.claim_due(now=1030.0)
    assert claim.due_at < 1003.0
    assert schedule.claim_due(now=1030.0) == []
    assert 1030.0 < schedule.scheduled()["h"] <= 1033.0


def test_two_dispatchers_never_claim_the_same_slot(client: redis.Redis, redis_url: str) -> None:
    for i in range(500):
        PollSchedule(client, 3.0).add(f"h{i}", 3.0, now=1000.0)
    results: list[list[str]] = [[], []]

    def claimer(k: int) -> None:
        own = redis.Redis.from_url(redis_url)
        schedule = PollSchedule(own, 3.0)
        for _ in range(20):
            results[k].extend(c.host_id for c in schedule.claim_due(now=1003.0, limit=30))
        own.close()

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = results[0] + results[1]
    assert len(claimed) == 500
    assert len(set(claimed)) == 500


def test_sync_adds_removes_and_updates_intervals(client: redis.Redis) -> None:
    schedule = PollSchedule(client, 3.0)
    schedule.add("old", 3.0, now=1000.0)
    schedule.add("keep", 3.0, now=1000.0)
    kept_slot = schedule.scheduled()["keep"]
    added, removed = schedule.sync({"keep": 5.0, "new": 3.0}, now=1000.0)
    assert (added, removed) == (1, 1)
    assert set(schedule.scheduled()) == {"keep", "new"}
    assert schedule.scheduled()["keep"] == kept_slot
    assert schedule.interval("keep") == 5.0


def _reads(client: redis.Redis) -> int:
    """How many times the schedule was read back from Redis since the last CONFIG RESETSTAT."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("zrange", "hgetall"))


def test_a_sync_writes_what_changed_since_the_last_without_reading_redis(client: redis.Redis) -> None:
    schedule = PollSchedule(client, 3.0)
    assert schedule.full_sync_due(1000.0)
    assert schedule.sync({"a": 3.0, "b": 3.0}, now=1000.0, push_intervals={"a": 15.0}) == (2, 0)
    assert not schedule.full_sync_due(1002.0)
    client.config_resetstat()
    assert schedule.sync({"a": 5.0, "c": 3.0}, now=1002.0, push_intervals={"a": 20.0}, full=False) == (1, 1)
    assert _reads(client) == 0
    assert set(schedule.scheduled()) == {"a", "c"}
    assert (schedule.interval("a"), float(client.hget(keys.PUSH_INTERVALS, "a"))) == (5.0, 20.0)


def test_a_redis_that_lost_the_schedule_gets_it_all_back_on_the_next_sync(client: redis.Redis) -> None:
    """A restart without persistence: the full sync's mark is gone with the rest, so beat reads back."""
    schedule = PollSchedule(client, 3.0)
    schedule.sync({"a": 3.0, "b": 3.0}, now=1000.0)
    client.flushdb()
    assert schedule.full_sync_due(1002.0)
    assert schedule.sync({"a": 3.0, "b": 3.0}, now=1002.0, full=True) == (2, 0)
    assert set(schedule.scheduled()) == {"a", "b"}


def test_a_full_sync_comes_once_a_minute_and_repairs_what_others_changed(client: redis.Redis) -> None:
    schedule = PollSchedule(client, 3.0)
    schedule.sync({"a": 3.0}, now=1000.0)
    client.hset(keys.INTERVALS, "a", "9.0")  # drift the last sync cannot know of
    assert not schedule.full_sync_due(1000.0 + FULL_SYNC_EVERY - 1)
    assert schedule.full_sync_due(1000.0 + FULL_SYNC_EVERY)
    schedule.sync({"a": 3.0}, now=1000.0 + FULL_SYNC_EVERY, full=True)
    assert schedule.interval("a") == 3.0


def test_chunks() -> None:
    assert [len(c) for c in chunks(range(7), 3)] == [3, 3, 1]  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_bad_interval_of_one_host_does_not_stop_the_others(client: redis.Redis, bad: float) -> None:
    """A cluster row with interval 0/inf/nan: its hosts fall back to the default, the rest go on."""
    schedule = PollSchedule(client, 3.0)
    schedule.add("early", bad, now=1000.0)  # what `vurti host add` does right after its commit
    assert schedule.sync({"early": bad, "h1": 3.0, "h2": bad}, now=1000.0) == (2, 0)
    assert schedule.interval("early") == schedule.interval("h2") == 3.0
    claimed = {c.host_id for c in schedule.claim_due(1003.0)}
    assert claimed == {"early", "h1", "h2"}
    assert all(1003.0 < due <= 1006.0 for due in schedule.scheduled().values())
