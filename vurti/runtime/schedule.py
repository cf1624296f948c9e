"""The poll schedule: one sorted set in Redis, host id -> next due time.

Beat's own schedulers keep one entry per host and rescan them all every tick,
which does not keep up with thousands of hosts (MACHINE-LIMITS.md). Here a
dispatcher claims the hosts that are due with one Lua call: it reads them and
moves each to its next slot atomically, so any number of beat processes can run
for availability and a host is still claimed once per interval. Each host keeps a
fixed phase inside its interval, derived from a hash of its id, so polls spread
evenly over time instead of bunching (as Prometheus spreads its scrapes).

Beat syncs the schedule with the database every few seconds. Reading the whole
schedule back from Redis each time costs more than everything else beat does at
thousands of hosts, so a sync compares the database with what this process last
wrote, and reads Redis back only now and then (FULL_SYNC_EVERY) or when Redis has
lost what a full sync marked (a restart without persistence, a flush).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import redis

from vurti.domain.policy import valid_interval
from vurti.domain.status import HostStatus
from vurti.runtime import keys

log = logging.getLogger(__name__)

# KEYS: schedule zset, intervals hash, push hash, push intervals hash.
# ARGV: now, limit, default interval, default push interval, host cache key prefix, the Up status code.
# A host whose events flow (an entry in the push hash) is next due after its push interval, once
# it is Up with its VM list recorded (a digest in its cache): until then, polls discover its VMs.
# Returns a flat list: id1, due1, interval1, id2, ...
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #due, 2 do
  local id = due[i]
  local at = tonumber(due[i + 1])
  local interval
  local pushed = redis.call('HEXISTS', KEYS[3], id) == 1
  if pushed then
    local cached = redis.call('HMGET', ARGV[5] .. id, 'status', 'digest')
    pushed = cached[1] == ARGV[6] and cached[2] ~= false
  end
  if pushed then
    interval = tonumber(redis.call('HGET', KEYS[4], id) or ARGV[4])
  else
    interval = tonumber(redis.call('HGET', KEYS[2], id) or ARGV[3])
  end
  local nxt = at + interval
  if nxt <= now then
    nxt = at + interval * (math.floor((now - at) / interval) + 1)
  end
  redis.call('ZADD', KEYS[1], nxt, id)
  out[#out + 1] = id
  out[#out + 1] = tostring(at)
  out[#out + 1] = tostring(interval)
end
return out
"""


FULL_SYNC_EVERY = 60.0  # seconds between syncs that read the schedule back from Redis


@dataclass(frozen=True)
class Claim:
    host_id: str
    due_at: float  # the slot this poll was scheduled for
    interval: float

    @property
    def expires_at(self) -> float:
        """A poll not started within one interval is stale: the next one is already due."""
        return self.due_at + self.interval


@dataclass(frozen=True)
class _Written:
    """What the last sync left in Redis (host id -> interval, the push intervals), and when
    Redis was last read back."""

    intervals: dict[str, float]
    pushes: dict[str, float]
    full_at: float


def phase(host_id: str, interval: float) -> float:
    """A stable offset in [0, interval) for the host."""
    digest = hashlib.blake2b(host_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * interval


def first_slot(host_id: str, interval: float, now: float) -> float:
    base = math.floor(now / interval) * interval + phase(host_id, interval)
    return base if base >= now else base + interval


class PollSchedule:
    def __init__(self, client: redis.Redis, default_interval: float = 3.0, default_push_interval: float = 15.0) -> None:
        if not valid_interval(default_interval) or not valid_interval(default_push_interval):
            raise ValueError(f"default poll interval {default_interval!r} or push interval "
                             f"{default_push_interval!r} is out of range")
        self._redis = client
        self._default = default_interval
        self._default_push = default_push_interval
        self._claim = client.register_script(_CLAIM)
        self._warned: set[tuple[str, float]] = set()
        self._written: _Written | None = None

    def usable(self, host_id: str, interval: float) -> float:
        """`interval`, or the default when it is out of range (a bad cluster row), logged once.

        One bad interval must not stop the schedule: 0 divides by zero in `first_slot`,
        inf or nan give slots that never come.
        """
        if valid_interval(interval):
            return interval
        if (host_id, interval) not in self._warned and len(self._warned) < 10_000:
            self._warned.add((host_id, interval))
            log.warning("host %s: poll interval %r is out of range; polled every %gs instead",
                        host_id, interval, self._default)
        return self._default

    def claim_due(self, now: float, limit: int = 10_000) -> list[Claim]:
        flat = self._claim(
            keys=[keys.SCHEDULE, keys.INTERVALS, keys.PUSH, keys.PUSH_INTERVALS],
            args=[repr(now), limit, repr(self._default), repr(self._default_push), keys.host_cache(""),
                  str(int(HostStatus.Up))],
        )
        return [Claim(_text(flat[i]), float(flat[i + 1]), float(flat[i + 2])) for i in range(0, len(flat), 3)]

    def add(self, host_id: str, interval: float, now: float) -> None:
        """Schedule a host (keeping its slot if it is already scheduled)."""
        interval = self.usable(host_id, interval)
        pipe = self._redis.pipeline()
        pipe.hset(keys.INTERVALS, host_id, repr(interval))
        pipe.zadd(keys.SCHEDULE, {host_id: first_slot(host_id, interval, now)}, nx=True)
        pipe.execute()

    def remove(self, host_id: str) -> None:
        pipe = self._redis.pipeline()
        pipe.zrem(keys.SCHEDULE, host_id)
        pipe.hdel(keys.INTERVALS, host_id)
        pipe.hdel(keys.PUSH, host_id)
        pipe.hdel(keys.PUSH_INTERVALS, host_id)
        pipe.execute()

    def full_sync_due(self, now: float) -> bool:
        """Read Redis back on this sync: the first one, one a minute, or Redis lost the last one's mark."""
        written = self._written
        return written is None or now >= written.full_at + FULL_SYNC_EVERY or not self._redis.exists(
            keys.SCHEDULE_SYNCED)

    def sync(self, wanted: Mapping[str, float], now: float,
             push_intervals: Mapping[str, float] | None = None, full: bool = True) -> tuple[int, int]:
        """Make the schedule hold exactly `wanted` (host id -> interval, and the push intervals
        of those whose cluster sets one); return (added, removed). Not `full`: only what
        changed since this process's last sync is written, without reading Redis."""
        if full or self._written is None:
            # redis-py types zrange's result for every option at once; without scores it is the members
            members = cast("list[bytes | str]", self._redis.zrange(keys.SCHEDULE, 0, -1))
            in_redis = {_text(m): float(v) for m, v in self._redis.hgetall(keys.INTERVALS).items()}
            current = _Written({_text(m): in_redis.get(_text(m), math.nan) for m in members},
                               {_text(k): float(v) for k, v in self._redis.hgetall(keys.PUSH_INTERVALS).items()},
                               now)
            full = True
        else:
            current = self._written
        pushes = {host_id: p if valid_interval(p) else self._default_push  # a bad cluster row: the default
                  for host_id, p in (push_intervals or {}).items()}
        intervals = {host_id: self.usable(host_id, asked) for host_id, asked in wanted.items()}
        pipe = self._redis.pipeline()
        gone = current.intervals.keys() - intervals.keys()
        if gone:
            pipe.zrem(keys.SCHEDULE, *gone)
            pipe.hdel(keys.INTERVALS, *gone)
            pipe.hdel(keys.PUSH, *gone)
        for host_id, push_interval in pushes.items():
            if current.pushes.get(host_id) != push_interval:
                pipe.hset(keys.PUSH_INTERVALS, host_id, repr(push_interval))
        stale_pushes = current.pushes.keys() - pushes.keys()
        if stale_pushes:
            pipe.hdel(keys.PUSH_INTERVALS, *stale_pushes)
        added = 0
        for host_id, interval in intervals.items():
            if current.intervals.get(host_id) != interval:
                pipe.hset(keys.INTERVALS, host_id, repr(interval))
            if host_id not in current.intervals:
                pipe.zadd(keys.SCHEDULE, {host_id: first_slot(host_id, interval, now)}, nx=True)
                added += 1
        if full:
            pipe.set(keys.SCHEDULE_SYNCED, repr(now))
        pipe.execute()
        self._written = _Written(intervals, pushes, current.full_at)
        return added, len(gone)

    def scheduled(self) -> dict[str, float]:
        # redis-py types zrange's result for every option at once; with scores it is (member, score) pairs
        pairs = cast("list[tuple[bytes | str, float]]", self._redis.zrange(keys.SCHEDULE, 0, -1, withscores=True))
        return {_text(m): float(s) for m, s in pairs}

    def interval(self, host_id: str) -> float:
        raw = self._redis.hget(keys.INTERVALS, host_id)
        return float(raw) if raw is not None else self._default


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def chunks(items: Iterable[Claim], size: int) -> list[list[Claim]]:
    batch: list[Claim] = []
    out: list[list[Claim]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            out.append(batch)
            batch = []
    if batch:
        out.append(batch)
    return out
