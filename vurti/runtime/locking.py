"""Per-host update lock in Redis: token-based, with a TTL, safe release, and a fencing token.

The lock (redis-py's Lock: `SET key token NX PX ttl`, Lua compare-and-delete on
release) keeps two workers from updating one host at once, and expires if its
holder dies. Expiry alone cannot stop a paused holder from writing after its
lease ran out, so every acquisition also takes a fencing token from a per-host
counter (INCR); the updater checks it against the database inside the write
transaction and refuses a token older than one already used.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from redis.exceptions import LockError

from vurti.runtime import keys

log = logging.getLogger(__name__)

LOCK_LOG_MAXLEN = 20_000


class LockBusy(Exception):
    """Another worker holds the host's lock."""


@dataclass(frozen=True)
class Lease:
    host_id: str
    fence_token: int
    holder: str


class HostLocks:
    def __init__(self, client: redis.Redis, ttl: float, record: bool = True) -> None:
        self._redis = client
        self._ttl = ttl
        self._record = record
        self._holder = f"{socket.gethostname()}:{os.getpid()}"

    @contextmanager
    def hold(self, host_id: str, blocking_timeout: float | None = None) -> Iterator[Lease]:
        """Hold the host's lock for the block; raise LockBusy if it cannot be had."""
        lock = self._redis.lock(
            keys.host_lock(host_id), timeout=self._ttl, thread_local=False, blocking_timeout=blocking_timeout
        )
        if not lock.acquire(blocking=blocking_timeout is not None):
            raise LockBusy(host_id)
        acquired = time.time()
        try:
            token = int(self._redis.incr(keys.host_fence(host_id)))
            yield Lease(host_id, token, self._holder)
        finally:
            released = time.time()
            try:
                lock.release()
            except LockError:
                log.warning("lock of host %s expired before release (held %.1fs)", host_id, released - acquired)
            if self._record:
                self._log(host_id, acquired, released)

    def _log(self, host_id: str, acquired: float, released: float) -> None:
        try:
            self._redis.xadd(
                keys.LOCK_LOG,
                {"host": host_id, "holder": self._holder, "acquired": repr(acquired), "released": repr(released)},
                maxlen=LOCK_LOG_MAXLEN,
                approximate=True,
            )
        except redis.RedisError:
            log.debug("could not record lock use of host %s", host_id, exc_info=True)
