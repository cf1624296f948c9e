"""Hosts whose events flow poll at their push interval; when the events stop they are due at once (real Redis)."""

from __future__ import annotations

import pytest
import redis

from vurti.domain.status import HostStatus
from vurti.runtime import keys
from vurti.runtime.host_cache import KEEP_DIGEST, HostCache
from vurti.runtime.push import PushRegistry
from vurti.runtime.schedule import PollSchedule


def _due(schedule: PollSchedule, now: float) -> dict[str, float]:
    return {c.host_id: c.interval for c in schedule.claim_due(now)}


def _up_with_vms(client: redis.Redis, *hosts: str) -> None:
    HostCache(client).record_many([(h, HostStatus.Up, f"digest-{h}") for h in hosts])


def test_a_pushed_host_is_next_due_after_its_push_interval(client: redis.Redis) -> None:
    schedule = PollSchedule(client, default_interval=3.0, default_push_interval=15.0)
    schedule.sync({"h1": 3.0, "h2": 3.0, "h3": 3.0}, now=0.0, push_intervals={"h3": 20.0})
    PushRegistry(client).hold("fetch1@a", ["h2", "h3"])
    _up_with_vms(client, "h1", "h2", "h3")
    claimed = _due(schedule, now=10.0)
    assert claimed == {"h1": 3.0, "h2": 15.0, "h3": 20.0}
    slots = schedule.scheduled()
    assert slots["h1"] <= 13.0 and slots["h2"] > 15.0 and slots["h3"] > 20.0


def test_releasing_a_host_makes_it_due_now_and_ends_its_safety_net_cadence(client: redis.Redis) -> None:
    schedule = PollSchedule(client, default_interval=3.0, default_push_interval=15.0)
    schedule.sync({"h1": 3.0}, now=0.0)
    push = PushRegistry(client)
    push.hold("fetch1@a", ["h1"])
    _up_with_vms(client, "h1")
    _due(schedule, now=5.0)
    assert schedule.scheduled()["h1"] > 15.0
    assert push.release(["h1"], now=6.0, member="fetch2@b") == 0  # not that member's host
    assert push.release(["h1"], now=6.0, member="fetch1@a") == 1
    assert _due(schedule, now=6.0) == {"h1": 3.0}
    assert push.holders() == {}


def test_take_over_releases_the_hosts_of_members_that_are_gone(client: redis.Redis) -> None:
    schedule = PollSchedule(client)
    schedule.sync({"h1": 3.0, "h2": 3.0, "h3": 3.0}, now=0.0)
    push = PushRegistry(client)
    push.hold("fetch1@a", ["h1"])
    push.hold("fetch2@b", ["h2", "h3"])
    _up_with_vms(client, "h1", "h2", "h3")
    _due(schedule, now=5.0)
    assert push.take_over(["fetch1@a"], now=7.0) == 2
    assert push.holders() == {"h1": "fetch1@a"}
    assert set(_due(schedule, now=7.0)) == {"h2", "h3"}


def test_a_removed_host_loses_its_push_entries(client: redis.Redis) -> None:
    schedule = PollSchedule(client)
    schedule.sync({"h1": 3.0, "h2": 3.0}, now=0.0, push_intervals={"h1": 15.0, "h2": 15.0})
    PushRegistry(client).hold("fetch1@a", ["h1", "h2"])
    schedule.sync({"h2": 3.0}, now=1.0, push_intervals={"h2": 15.0})
    assert PushRegistry(client).holders() == {"h2": "fetch1@a"}
    assert set(client.hkeys("vurti:push-intervals")) == {b"h2"}


@pytest.mark.parametrize("status, digest", [(HostStatus.Initializing, "d"), (HostStatus.Up, None)])
def test_a_pushed_host_keeps_its_refresh_interval_until_it_is_up_with_its_vms_known(
    client: redis.Redis, status: HostStatus, digest: str | None
) -> None:
    schedule = PollSchedule(client, default_interval=3.0, default_push_interval=15.0)
    schedule.sync({"h1": 3.0}, now=0.0)
    PushRegistry(client).hold("fetch1@a", ["h1"])
    HostCache(client).record_many([("h1", status, digest)])
    assert _due(schedule, now=5.0) == {"h1": 3.0}


def test_a_pushed_event_leaves_the_cached_digest_alone(client: redis.Redis) -> None:
    cache = HostCache(client)
    cache.record_many([("h1", HostStatus.Up, "d1")])
    cache.record_many([("h1", HostStatus.Up, KEEP_DIGEST)])
    assert client.hget(keys.host_cache("h1"), "digest") == b"d1"
    cache.record_many([("h1", HostStatus.Up, None)])
    assert client.hget(keys.host_cache("h1"), "digest") is None
