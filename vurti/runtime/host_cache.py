"""The hot path's view of each host, kept in Redis so a steady-state poll touches no database.

Per host, one hash: the agent URL, the host's name (for logs), the status and VM
digest last committed, a digest already sent to the update queue (`pending`), the
engine time of the last poll the host answered (`answered_at`: most answered polls
stop at the fetch, so only the cache sees them; a failed report carries it to the
grace period), a poll counter that tells which cycles are statistics cycles, and the
digest of the VMs' device hashes whose devices are stored (`devices`; the hashes
themselves, `device_hashes`, are read only when a poll's digest differs). The update side writes status and digest only
after its transaction commits, so the cache never runs ahead of the database; if
the cache is lost, the next poll is treated as a change and refills it.

A batch of polls costs two Redis round trips whatever its size: `begin_cycles`
marks every host as being fetched (skipping those whose previous fetch still
runs), counts the poll and reads the hash, in one Lua call; `end_cycles` releases
the marks (only the ones this batch holds) and records answered polls and pending
digests.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
import redis
from redis.typing import EncodableT, FieldT

from vurti.domain.status import HostStatus
from vurti.runtime import keys

KEEP_DIGEST = ""  # record_many: a report that names some VMs only leaves the host's digest alone

# KEYS: the host-names hash (beat keeps it from the database). ARGV: fetching-key prefix, host-key
# prefix, token, ttl ms, host ids... Per host 10 strings: busy ("1" when its previous fetch still
# runs), cycle, url, status, digest, pending, pending_at, answered_at, devices, name.
_BEGIN = """
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local hkey = ARGV[2] .. id
  if redis.call('SET', ARGV[1] .. id, ARGV[3], 'NX', 'PX', ARGV[4]) then
    local cycle = redis.call('HINCRBY', hkey, 'cycle', 1)
    local v = redis.call('HMGET', hkey, 'url', 'status', 'digest', 'pending', 'pending_at', 'answered_at',
                         'devices')
    out[#out + 1] = '0'
    out[#out + 1] = tostring(cycle)
    for j = 1, 7 do out[#out + 1] = v[j] or '' end
  else
    out[#out + 1] = '1'
    for j = 1, 8 do out[#out + 1] = '' end
  end
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
end
return out
"""

# ARGV: fetching-key prefix, host-key prefix, token, n, m, host ids (n), pairs (host id, answered at) (m),
# then triples (host id, digest, at).
_END = """
local n = tonumber(ARGV[4])
local m = tonumber(ARGV[5])
for i = 6, 5 + n do
  local k = ARGV[1] .. ARGV[i]
  if redis.call('GET', k) == ARGV[3] then redis.call('DEL', k) end
end
local first = 6 + n
for i = first, first + 2 * m - 1, 2 do
  redis.call('HSET', ARGV[2] .. ARGV[i], 'answered_at', ARGV[i + 1])
end
for i = first + 2 * m, #ARGV, 3 do
  redis.call('HSET', ARGV[2] .. ARGV[i], 'pending', ARGV[i + 1], 'pending_at', ARGV[i + 2])
end
return n
"""

_FIELDS = 10
_tokens = itertools.count()


@dataclass(frozen=True)
class CachedHost:
    host_id: str
    url: str | None
    status: HostStatus | None
    digest: str | None  # VM digest of the state last committed
    cycle: int  # this poll's number, counted from 0
    busy: bool = False  # the previous fetch of this host still runs: skip this one
    pending: str | None = None  # a digest already sent to the update queue
    pending_at: float | None = None
    answered_at: float | None = None  # engine time of the last poll the host answered
    name: str | None = None  # for logs; None until an update recorded it
    devices: str | None = None  # digest of the device hashes whose devices are stored

    @property
    def label(self) -> str:
        """The host as logs name it."""
        return self.name or self.host_id


class HostCache:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self._prefixes = [keys.host_fetching(""), keys.host_cache("")]
        self._synced_urls: dict[str, str] = {}

    def new_token(self) -> str:
        """Identifies one batch's fetch marks (cheaper than a uuid per host)."""
        return f"{os.getpid()}-{next(_tokens)}-{id(self)}"

    def begin_cycles(self, host_ids: Sequence[str], token: str, ttl: float) -> list[CachedHost]:
        """Mark, count and read each host's poll in one round trip."""
        if not host_ids:
            return []
        flat = self._begin(keys=[keys.HOST_NAMES], args=[*self._prefixes, token, max(1, int(ttl * 1000)), *host_ids])
        out = []
        for i, host_id in enumerate(host_ids):
            busy, cycle, url, status, digest, pending, pending_at, answered_at, devices, name = (
                _text(v) for v in flat[i * _FIELDS:(i + 1) * _FIELDS]
            )
            if busy == "1":
                out.append(CachedHost(host_id, None, None, None, -1, busy=True, name=name or None))
                continue
            out.append(
                CachedHost(
                    host_id,
                    url or None,
                    HostStatus(int(status)) if status else None,
                    digest or None,
                    int(cycle) - 1,
                    pending=pending or None,
                    pending_at=float(pending_at) if pending_at else None,
                    answered_at=float(answered_at) if answered_at else None,
                    name=name or None,
                    devices=devices or None,
                )
            )
        return out

    def end_cycles(
        self,
        host_ids: Sequence[str],
        token: str,
        pending: Sequence[tuple[str, str, float]] = (),
        answered: Sequence[tuple[str, float]] = (),
    ) -> None:
        """Release this batch's fetch marks; remember the polls the hosts answered (host id,
        engine time) and the digests just sent to the update queue."""
        flat_answered = [str(v) for row in answered for v in row]
        flat_pending = [str(v) for row in pending for v in row]
        self._end(
            args=[*self._prefixes, token, len(host_ids), len(answered), *host_ids, *flat_answered, *flat_pending]
        )

    def urls(self, host_ids: list[str]) -> list[str | None]:
        pipe = self._redis.pipeline(transaction=False)
        for host_id in host_ids:
            pipe.hget(keys.host_cache(host_id), "url")
        return [u.decode() if u else None for u in pipe.execute()]

    def sync_urls(self, urls: Mapping[str, str], verify: bool) -> None:
        """Write the URLs that changed since the last sync, or (`verify`) that Redis does not hold."""
        held: Mapping[str, str | None] = self._synced_urls
        if verify:
            ids = list(urls)
            held = dict(zip(ids, self.urls(ids), strict=True))
        pipe = self._redis.pipeline(transaction=False)
        for host_id, url in urls.items():
            if held.get(host_id) != url:
                pipe.hset(keys.host_cache(host_id), "url", url)
        if len(pipe):
            pipe.execute()
        self._synced_urls = dict(urls)

    def put_host(self, host_id: str, url: str) -> None:
        self._redis.hset(keys.host_cache(host_id), "url", url)

    def record(self, host_id: str, status: HostStatus, digest: str | None) -> None:
        """After commit: the status and VM digest now stored for the host."""
        self.record_many([(host_id, status, digest)])

    def record_many(self, committed: Sequence[tuple[str, HostStatus, str | None]]) -> None:
        """`record` for several hosts (host id, status, digest) in one round trip. A digest of
        None forgets the cached one; KEEP_DIGEST leaves it as it is."""
        if not committed:
            return
        pipe = self._redis.pipeline(transaction=False)
        for host_id, status, digest in committed:
            mapping: dict[FieldT, EncodableT] = {"status": str(int(status))}
            if digest:
                mapping["digest"] = digest
            pipe.hset(keys.host_cache(host_id), mapping=mapping)
            if digest is None:
                pipe.hdel(keys.host_cache(host_id), "digest")
        pipe.execute()

    def device_hashes(self, host_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """VM id -> device hash whose devices are stored, per host: read only for hosts whose
        poll saw another device digest (one round trip)."""
        if not host_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for host_id in host_ids:
            pipe.hget(keys.host_cache(host_id), "device_hashes")
        out = {}
        for host_id, raw in zip(host_ids, pipe.execute(), strict=True):
            try:
                loaded = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                loaded = {}
            out[host_id] = loaded if isinstance(loaded, dict) else {}
        return out

    def record_devices(self, committed: Sequence[tuple[str, str, dict[str, str]]]) -> None:
        """After commit: (host id, device digest, VM id -> hash) whose devices are now stored."""
        if not committed:
            return
        pipe = self._redis.pipeline(transaction=False)
        for host_id, digest, hashes in committed:
            pipe.hset(keys.host_cache(host_id), mapping={"devices": digest, "device_hashes": orjson.dumps(hashes)})
        pipe.execute()

    def forget(self, host_id: str) -> None:
        self._redis.delete(keys.host_cache(host_id))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
