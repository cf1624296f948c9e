"""Fencing tokens after Redis loses its data: a real redis-server restarted without persistence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import RedisServer
from vurti.domain.model import HostConfig
from vurti.runtime import keys
from vurti.runtime.locking import HostLocks
from vurti.store import SqlUnitOfWork


@pytest.fixture()
def server() -> Iterator[RedisServer]:
    srv = RedisServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _write(uow: SqlUnitOfWork, host_id: str, token: int) -> bool:
    with uow:
        accepted = uow.hosts.fence(host_id, token)
        uow.commit()
    return accepted


def test_updates_are_accepted_after_redis_restarts_empty(
    server: RedisServer, uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]
) -> None:
    host = hosts[0].id
    client = redis.Redis.from_url(server.url)
    locks = HostLocks(client, ttl=5, record=False)
    before = []
    for _ in range(50):  # a counter well ahead of where a fresh one starts
        with locks.hold(host) as lease:
            assert _write(uow, host, lease.fence_token)
            before.append(lease.fence_token)
    assert before == sorted(set(before))
    client.close()

    server.restart()  # no persistence: every counter is gone
    client = redis.Redis.from_url(server.url)
    assert not client.exists(keys.host_fence(host))
    locks = HostLocks(client, ttl=5, record=False)
    with locks.hold(host) as lease:
        assert lease.fence_token > before[-1]
        assert _write(uow, host, lease.fence_token), "the first update after the loss was refused"
    client.close()


def test_a_full_counter_moves_to_a_later_epoch(server: RedisServer) -> None:
    from vurti.runtime.locking import COUNTER_BITS

    client = redis.Redis.from_url(server.url)
    locks = HostLocks(client, ttl=5, record=False)
    with locks.hold("h1") as lease:
        first = lease.fence_token
    client.hset(keys.host_fence("h1"), "n", (1 << COUNTER_BITS) - 1)  # as after a million acquisitions
    with locks.hold("h1") as lease:
        assert lease.fence_token > first + (1 << COUNTER_BITS) - 2
    with locks.hold("h1") as lease2:
        assert lease2.fence_token == lease.fence_token + 1
    client.close()
