"""Per-host update lock in Redis: token-based, with a TTL, safe release, and a fencing token.

The lock (`SET key token NX PX ttl`, Lua compare-and-delete on release, the
protocol of redis-py's Lock) keeps two workers from updating one host at once, and expires if its
holder dies. Expiry alone cannot stop a paused holder from writing after its
lease ran out, so every acquisition also takes a fencing token from a per-host
counter; the updater checks it against the database inside the write
transaction and refuses a token older than one already used.

A token is `epoch << COUNTER_BITS | counter`: the epoch is Redis' own clock (TIME, in
milliseconds since EPOCH_BASE_MS) when the host's counter was created. A Redis that
loses its data (a restart without persistence, a failover to an empty replica) starts
the counters again, but under a later epoch, so the first token after the loss is still
larger than every token before it and the database keeps accepting the host's updates.
A counter that fills its bits moves to a new epoch too.

`hold_many` takes the locks of a batch of hosts in one round trip (one token per
batch), so an update worker that applies many reports per message pays Redis once
per batch; `hold` is the same for one host, optionally waiting for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from vurti.runtime import keys

log = logging.getLogger(__name__)

LOCK_LOG_MAXLEN = 20_000
RETRY_EVERY = 0.05  # seconds between attempts of a caller that waits for a lock


EPOCH_BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: epochs stay small enough for a BIGINT
COUNTER_BITS = 20  # acquisitions per host per epoch; then a new epoch (tokens up to ~2^57 by 2300)

# ARGV: lock-key prefix, fence-key prefix, token, ttl ms, epoch base ms, counter limit, owner
# prefix ('' for none), host ids...
# Per host: its epoch and counter (a hash; composed into a token in Python, exact beyond
# Lua's 53-bit numbers), or 0, 0 if busy. TIME is Redis' clock: it only grows with the
# Redis host's clock, and is read once per script. A lock held under the same owner (the
# same task message, redelivered after its worker died) is taken over.
_ACQUIRE_MANY = """
local out = {}
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[5])
local owner = ARGV[7]
for i = 8, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local got = redis.call('SET', key, ARGV[3], 'NX', 'PX', ARGV[4])
  if not got and owner ~= '' then
    local held = redis.call('GET', key)
    if held and string.sub(held, 1, #owner) == owner then
      got = redis.call('SET', key, ARGV[3], 'XX', 'PX', ARGV[4])
    end
  end
  if got then
    local fk = ARGV[2] .. ARGV[i]
    local epoch = tonumber(redis.call('HGET', fk, 'epoch'))
    local n = redis.call('HINCRBY', fk, 'n', 1)
    if epoch == nil or n >= tonumber(ARGV[6]) then
      if epoch == nil or epoch < now_ms then epoch = now_ms else epoch = epoch + 1 end
      n = 1
      redis.call('HSET', fk, 'epoch', string.format('%d', epoch), 'n', n)
    end
    out[#out + 1] = string.format('%d', epoch)
    out[#out + 1] = n
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
  end
end
return out
"""


def fence_token(epoch: int, counter: int) -> int:
    """The fencing token of the `counter`th acquisition in `epoch`: later epochs always win."""
    return (epoch << COUNTER_BITS) | counter


# ARGV: lock-key prefix, token, host ids...; returns the hosts whose lock was no longer ours.
_RELEASE_MANY = """
local lost = {}
for i = 3, #ARGV do
  local k = ARGV[1] .. ARGV[i]
  if redis.call('GET', k) == ARGV[2] then redis.call('DEL', k) else lost[#lost + 1] = ARGV[i] end
end
return lost
"""


class LockBusy(Exception):
    """Another worker holds the host's lock."""


@dataclass(frozen=True)
class Lease:
    host_id: str
    fence_token: int
    holder: str
    expires_at: float = float("inf")  # monotonic time after which the lock may be someone else's
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @property
    def expired(self) -> bool:
        return self.clock() >= self.expires_at


class HostLocks:
    def __init__(
        self, client: redis.Redis, ttl: float, record: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._redis = client
        self._clock = clock  # monotonic, for lease expiry
        self._ttl = ttl
        self._record = record
        self._holder = f"{socket.gethostname()}:{os.getpid()}"
        self._acquire_many = client.register_script(_ACQUIRE_MANY)
        self._release_many = client.register_script(_RELEASE_MANY)

    @contextmanager
    def hold(self, host_id: str, blocking_timeout: float | None = None, owner: str | None = None) -> Iterator[Lease]:
        """Hold the host's lock for the block; raise LockBusy if it cannot be had.

        `blocking_timeout`: wait up to that long for the lock (a manual refresh), else
        give up at once (periodic work). The same Lua acquisition as `hold_many`.
        """
        give_up = time.monotonic() + (blocking_timeout or 0.0)
        while True:
            with self.hold_many([host_id], owner) as leases:
                lease = leases.get(host_id)
                if lease is not None:
                    yield lease
                    return
            if time.monotonic() >= give_up:
                raise LockBusy(host_id)
            time.sleep(RETRY_EVERY)

    @contextmanager
    def hold_many(self, host_ids: Sequence[str], owner: str | None = None) -> Iterator[dict[str, Lease]]:
        """Hold the locks of those hosts that are free, for the block; never waits.

        Yields a lease per host that could be locked; the others are busy (another
        worker updates them). Every lease expires `ttl` after the batch took it, so
        a caller that works through a long batch checks `Lease.expired` before each.

        `owner` (a task's message id) is written into the lock: a redelivery of the
        same message, after the worker that ran it was killed, takes over the dead
        hold instead of waiting out the TTL and being acknowledged as skipped. Its new
        fencing token also shuts out the first run, were it still alive.
        """
        ids = list(dict.fromkeys(host_ids))
        if not ids:
            yield {}
            return
        prefix = f"{owner}|" if owner else ""
        token = prefix + uuid.uuid4().hex
        deadline = self._clock() + self._ttl
        prefixes = [keys.host_lock(""), keys.host_fence("")]
        flat = self._acquire_many(
            args=[*prefixes, token, max(1, int(self._ttl * 1000)), EPOCH_BASE_MS, 1 << COUNTER_BITS, prefix, *ids]
        )
        # The lock log's span lies inside the real hold: taken after the locks are held,
        # released before they are let go, so spans of two holders of a host never overlap.
        acquired = time.time()
        leases = {
            h: Lease(h, fence_token(int(flat[2 * i]), int(flat[2 * i + 1])), self._holder, deadline, self._clock)
            for i, h in enumerate(ids)
            if int(flat[2 * i + 1])
        }
        try:
            yield leases
        finally:
            released = time.time()
            if leases:
                lost = self._release_many(args=[keys.host_lock(""), token, *leases])
                for host_id in lost:
                    log.warning("lock of host %s expired before release (held %.1fs)",
                                host_id.decode() if isinstance(host_id, bytes) else host_id, released - acquired)
                if self._record:
                    self._log(list(leases), acquired, released)

    def _log(self, ids: list[str], acquired: float, released: float) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for host_id in ids:
                pipe.xadd(
                    keys.LOCK_LOG,
                    {"host": host_id, "holder": self._holder, "acquired": repr(acquired), "released": repr(released)},
                    maxlen=LOCK_LOG_MAXLEN,
                    approximate=True,
                )
            pipe.execute()
        except redis.RedisError:
            log.debug("could not record lock use of hosts %s", ids, exc_info=True)
