"""The hot-path host cache on a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from vurti.domain.status import HostStatus
from vurti.runtime.host_cache import HostCache


@pytest.fixture()
def cache(redis_url: str) -> Iterator[HostCache]:
    c = redis.Redis.from_url(redis_url)
    c.flushdb()
    yield HostCache(c)
    c.flushdb()
    c.close()


def test_cycles_count_per_host_and_unknown_hosts_read_empty(cache: HostCache) -> None:
    cache.put_host("a", "http://127.0.0.1:1/hosts/a/")
    first = cache.begin_cycles(["a", "b"])
    assert [(h.host_id, h.cycle, h.url, h.status, h.digest) for h in first] == [
        ("a", 0, "http://127.0.0.1:1/hosts/a/", None, None),
        ("b", 0, None, None, None),
    ]
    assert [h.cycle for h in cache.begin_cycles(["a"])] == [1]


def test_record_after_commit_and_forget(cache: HostCache) -> None:
    cache.put_host("a", "http://x/")
    cache.record("a", HostStatus.Up, "d1")
    (a,) = cache.begin_cycles(["a"])
    assert (a.status, a.digest) == (HostStatus.Up, "d1")
    cache.record("a", HostStatus.Connecting, None)
    (a,) = cache.begin_cycles(["a"])
    assert (a.status, a.digest) == (HostStatus.Connecting, None)
    assert cache.urls(["a", "zz"]) == ["http://x/", None]
    cache.forget("a")
    (a,) = cache.begin_cycles(["a"])
    assert a.url is None and a.cycle == 0
