"""Per-host locks and fetch guards on a real redis-server."""

from __future__ import annotations

import time

import pytest
import redis

from vurti.runtime import keys
from vurti.runtime.locking import COUNTER_BITS, HostLocks, LockBusy


def counter(token: int) -> int:
    """The per-epoch counter part of a fencing token."""
    return token & ((1 << COUNTER_BITS) - 1)


def test_second_holder_is_refused_while_first_holds(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=5)
    with locks.hold("h1") as lease:
        first = lease.fence_token
        assert counter(first) == 1
        with pytest.raises(LockBusy), locks.hold("h1"):
            pass
        with locks.hold("h2") as other:  # other hosts are independent
            assert other.host_id == "h2"
    with locks.hold("h1") as again:
        assert again.fence_token == first + 1  # fencing tokens only grow


def test_dead_holders_lock_expires(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=0.2)
    lock = client.lock(keys.host_lock("h1"), timeout=0.2)
    assert lock.acquire(blocking=False)  # a holder that never releases
    with pytest.raises(LockBusy), locks.hold("h1"):
        pass
    deadline = time.monotonic() + 5
    while client.exists(keys.host_lock("h1")) and time.monotonic() < deadline:
        time.sleep(0.02)
    with locks.hold("h1") as lease:
        assert lease.fence_token >= 1


def test_expired_holder_does_not_release_the_new_holders_lock(client: redis.Redis) -> None:
    slow = HostLocks(client, ttl=0.2)
    fast = HostLocks(client, ttl=5)
    with slow.hold("h1") as old:
        deadline = time.monotonic() + 5
        while client.exists(keys.host_lock("h1")) and time.monotonic() < deadline:
            time.sleep(0.02)
        # The old lease ran out; a new holder takes the lock before the old one leaves.
        newer = fast.hold("h1")
        new_lease = newer.__enter__()
        assert new_lease.fence_token > old.fence_token
    # The old holder's exit must not have deleted the new holder's lock.
    assert client.exists(keys.host_lock("h1"))
    newer.__exit__(None, None, None)
    assert not client.exists(keys.host_lock("h1"))


def test_lock_use_is_recorded(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=5)
    with locks.hold("h1"):
        pass
    entries = client.xrange(keys.LOCK_LOG)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"host"] == b"h1"
    assert float(fields[b"acquired"]) <= float(fields[b"released"])


def test_hold_many_takes_free_hosts_and_skips_busy_ones(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=5)
    with locks.hold("h2"):
        with locks.hold_many(["h1", "h2", "h3", "h1"]) as leases:
            assert sorted(leases) == ["h1", "h3"]  # h2 is held elsewhere, duplicates taken once
            assert all(not lease.expired for lease in leases.values())
            with pytest.raises(LockBusy), locks.hold("h1"):  # a single holder is refused while the batch holds h1
                pass
        tokens = {h: lease.fence_token for h, lease in leases.items()}
    with locks.hold("h1") as again:  # released by the batch, fence tokens go on growing
        assert again.fence_token == tokens["h1"] + 1
    assert client.get(keys.host_lock("h3")) is None
    hosts_logged = sorted(fields[b"host"].decode() for _, fields in client.xrange(keys.LOCK_LOG))
    assert hosts_logged == ["h1", "h1", "h2", "h3"]


def test_hold_many_leaves_a_lock_that_expired_and_was_retaken(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=0.2)
    with locks.hold_many(["h1"]) as leases:
        client.delete(keys.host_lock("h1"))  # as if it expired...
        other = client.lock(keys.host_lock("h1"), timeout=5)
        assert other.acquire(blocking=False)  # ...and another worker took it
        assert counter(leases["h1"].fence_token) == 1
    assert other.owned()  # the batch's release did not delete someone else's lock
    other.release()


def test_hold_many_of_nothing(client: redis.Redis) -> None:
    with HostLocks(client, ttl=1).hold_many([]) as leases:
        assert leases == {}


def test_a_waiting_holder_gets_the_lock_once_it_is_free_and_gives_up_at_its_timeout(client: redis.Redis) -> None:
    locks = HostLocks(client, ttl=5)
    other = client.lock(keys.host_lock("h1"), timeout=0.3)  # another worker's lock, expiring soon
    assert other.acquire(blocking=False)
    with pytest.raises(LockBusy), locks.hold("h1", blocking_timeout=0.05):
        pass
    started = time.monotonic()
    with locks.hold("h1", blocking_timeout=5) as lease:  # waits for the other lock to expire
        assert lease.host_id == "h1" and time.monotonic() - started < 5
        assert not other.owned()


def test_logged_spans_of_two_holders_of_a_host_never_overlap(client: redis.Redis) -> None:
    """The second holder's attempt starts while the first still holds; the logged spans must not overlap."""
    first, second = HostLocks(client, ttl=5), HostLocks(client, ttl=5)
    held = first.hold("h1")
    held.__enter__()
    time.sleep(0.01)  # the first holder's span has some length
    script = second._acquire_many

    def first_lets_go_meanwhile(*args: object, **kwargs: object) -> object:
        held.__exit__(None, None, None)  # released while the second holder is on its way to the lock
        return script(*args, **kwargs)

    second._acquire_many = first_lets_go_meanwhile  # type: ignore[method-assign]
    with second.hold("h1") as lease:
        assert counter(lease.fence_token) == 2
    spans = sorted((float(f[b"acquired"]), float(f[b"released"])) for _, f in client.xrange(keys.LOCK_LOG))
    assert len(spans) == 2 and spans[1][0] >= spans[0][1], spans


def test_a_redelivered_task_takes_over_the_hold_its_killed_run_left(client: redis.Redis) -> None:
    """The first run of message m-1 took the lock and died (kill -9): no release, TTL 30 s."""
    dead = HostLocks(client, ttl=30).hold_many(["h1"], owner="m-1")
    first = dead.__enter__()["h1"]  # never exits: the process is gone
    locks = HostLocks(client, ttl=30)
    with locks.hold_many(["h1"], owner="m-2") as leases:
        assert leases == {}  # another message still waits for the TTL
    with locks.hold_many(["h1"]) as leases:
        assert leases == {}
    with locks.hold_many(["h1"], owner="m-1") as leases:  # the redelivery of m-1
        assert leases["h1"].fence_token > first.fence_token  # the dead run could not write after it
    assert not client.exists(keys.host_lock("h1"))  # released as usual
