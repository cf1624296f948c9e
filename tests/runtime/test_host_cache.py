"""The hot-path host cache on a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.procs import wait_for
from vurti.domain.status import HostStatus
from vurti.runtime import keys
from vurti.runtime.host_cache import HostCache
from vurti.runtime.host_names import HostNames


@pytest.fixture()
def cache(redis_url: str) -> Iterator[HostCache]:
    c = redis.Redis.from_url(redis_url)
    c.flushdb()
    yield HostCache(c)
    c.flushdb()
    c.close()


def _cycle(cache: HostCache, ids: list[str]) -> list:  # type: ignore[type-arg]
    token = cache.new_token()
    got = cache.begin_cycles(ids, token, 5)
    cache.end_cycles([h.host_id for h in got if not h.busy], token)
    return got


def test_cycles_count_per_host_and_unknown_hosts_read_empty(cache: HostCache) -> None:
    cache.put_host("a", "http://127.0.0.1:1/hosts/a/")
    first = _cycle(cache, ["a", "b"])
    assert [(h.host_id, h.cycle, h.url, h.status, h.digest, h.busy) for h in first] == [
        ("a", 0, "http://127.0.0.1:1/hosts/a/", None, None, False),
        ("b", 0, None, None, None, False),
    ]
    assert [h.cycle for h in _cycle(cache, ["a"])] == [1]


def test_a_host_whose_fetch_runs_is_busy_and_only_the_holder_releases_it(cache: HostCache) -> None:
    first, second = cache.new_token(), cache.new_token()
    assert first != second
    (a,) = cache.begin_cycles(["a"], first, 5)
    assert not a.busy
    busy, b = cache.begin_cycles(["a", "b"], second, 5)
    assert busy.busy and not b.busy
    assert busy.cycle == -1  # a skipped poll is not counted
    cache.end_cycles(["a", "b"], second)  # not the holder of "a": its mark stays
    (still,) = cache.begin_cycles(["a"], cache.new_token(), 5)
    assert still.busy
    cache.end_cycles(["a"], first)
    (free,) = _cycle(cache, ["a"])
    assert not free.busy and free.cycle == 1


def test_a_crashed_fetchers_mark_expires(cache: HostCache) -> None:
    cache.begin_cycles(["a"], cache.new_token(), 0.05)  # never ended
    client = cache._redis  # read the key the mark lives in
    wait_for(lambda: not client.exists(keys.host_fetching("a")), timeout=5, what="the mark to expire")
    (a,) = _cycle(cache, ["a"])
    assert not a.busy


def test_pending_digest_and_commit_record(cache: HostCache) -> None:
    cache.put_host("a", "http://x/")
    token = cache.new_token()
    cache.begin_cycles(["a"], token, 5)
    cache.end_cycles(["a"], token, [("a", "d-new", 100.5)])
    (a,) = _cycle(cache, ["a"])
    assert (a.pending, a.pending_at, a.digest) == ("d-new", 100.5, None)
    cache.record("a", HostStatus.Up, "d1")
    (a,) = _cycle(cache, ["a"])
    assert (a.status, a.digest) == (HostStatus.Up, "d1")
    cache.record("a", HostStatus.Connecting, None)
    (a,) = _cycle(cache, ["a"])
    assert (a.status, a.digest) == (HostStatus.Connecting, None)
    assert cache.urls(["a", "zz"]) == ["http://x/", None]
    cache.forget("a")
    (a,) = _cycle(cache, ["a"])
    assert a.url is None and a.cycle == 0


def test_answered_polls_and_names_are_remembered(cache: HostCache) -> None:
    token = cache.new_token()
    cache.begin_cycles(["a", "b"], token, 5)
    cache.end_cycles(["a", "b"], token, [("b", "d-b", 7.0)], answered=[("a", 100.5)])
    a, b = _cycle(cache, ["a", "b"])
    assert (a.answered_at, b.answered_at, b.pending) == (100.5, None, "d-b")
    HostNames(cache._redis).sync({"a": "host-a"})  # what beat keeps from the database
    (a,) = _cycle(cache, ["a"])
    assert (a.name, a.label, a.answered_at) == ("host-a", "host-a", 100.5)
    held = cache.new_token()
    cache.begin_cycles(["a"], held, 5)
    (busy,) = cache.begin_cycles(["a"], cache.new_token(), 5)
    assert busy.busy and busy.label == "host-a"  # the fetch log names a skipped host


def test_device_digest_is_read_with_the_cycle_and_hashes_only_on_demand(cache: HostCache) -> None:
    assert _cycle(cache, ["a"])[0].devices is None
    assert cache.device_hashes(["a", "b"]) == {"a": {}, "b": {}}
    cache.record_devices([("a", "digest-1", {"v1": "-12", "v2": "7"})])
    (a,) = _cycle(cache, ["a"])
    assert a.devices == "digest-1" and a.name is None  # the field after it is still read right
    assert cache.device_hashes(["a"]) == {"a": {"v1": "-12", "v2": "7"}}
    cache.record_devices([("a", "digest-2", {"v1": "-12"})])
    assert _cycle(cache, ["a"])[0].devices == "digest-2"
    assert cache.device_hashes(["a"]) == {"a": {"v1": "-12"}}


def test_unreadable_device_hashes_read_as_none_known(cache: HostCache) -> None:
    cache._redis.hset(keys.host_cache("a"), "device_hashes", b"not json")  # type: ignore[attr-defined]
    assert cache.device_hashes(["a"]) == {"a": {}}


def test_urls_synced_from_the_database_write_changes_and_verify_what_redis_lost(cache: HostCache) -> None:
    cache.sync_urls({"a": "stomp://10.0.0.1:54321", "b": "stomp://10.0.0.2:54321"}, verify=True)
    assert cache.urls(["a", "b"]) == ["stomp://10.0.0.1:54321", "stomp://10.0.0.2:54321"]
    cache.sync_urls({"a": "stomp://10.0.0.9:54321", "b": "stomp://10.0.0.2:54321"}, verify=False)  # a moved
    assert cache.urls(["a"]) == ["stomp://10.0.0.9:54321"]
    cache._redis.delete(keys.host_cache("b"))  # lost behind the last sync's back
    cache.sync_urls({"a": "stomp://10.0.0.9:54321", "b": "stomp://10.0.0.2:54321"}, verify=False)
    assert cache.urls(["b"]) == [None]  # an unverified sync writes changes only
    cache.sync_urls({"a": "stomp://10.0.0.9:54321", "b": "stomp://10.0.0.2:54321"}, verify=True)
    assert cache.urls(["b"]) == ["stomp://10.0.0.2:54321"]
