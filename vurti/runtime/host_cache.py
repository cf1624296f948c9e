"""The hot path's view of each host, kept in Redis so a steady-state poll touches no database.

Per host, one hash: the agent URL, the status and VM digest last committed, and a
poll counter that tells which cycles are statistics cycles. The update side writes
it only after its transaction commits, so the cache never runs ahead of the DB; if
the cache is lost, the next poll is treated as a change and refills it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from vurti.domain.status import HostStatus
from vurti.runtime import keys


@dataclass(frozen=True)
class CachedHost:
    host_id: str
    url: str | None
    status: HostStatus | None
    digest: str | None
    cycle: int  # this poll's number, counted from 0


class HostCache:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def begin_cycles(self, host_ids: list[str]) -> list[CachedHost]:
        """Count one poll of each host and read what the poll needs, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for host_id in host_ids:
            key = keys.host_cache(host_id)
            pipe.hincrby(key, "cycle", 1)
            pipe.hmget(key, "url", "status", "digest")
        raw = pipe.execute()
        out = []
        for i, host_id in enumerate(host_ids):
            cycle = int(raw[2 * i]) - 1
            url, status, digest = raw[2 * i + 1]
            out.append(
                CachedHost(
                    host_id,
                    url.decode() if url else None,
                    HostStatus(int(status)) if status else None,
                    digest.decode() if digest else None,
                    cycle,
                )
            )
        return out

    def urls(self, host_ids: list[str]) -> list[str | None]:
        pipe = self._redis.pipeline(transaction=False)
        for host_id in host_ids:
            pipe.hget(keys.host_cache(host_id), "url")
        return [u.decode() if u else None for u in pipe.execute()]

    def put_host(self, host_id: str, url: str) -> None:
        self._redis.hset(keys.host_cache(host_id), "url", url)

    def record(self, host_id: str, status: HostStatus, digest: str | None) -> None:
        """After commit: the status and VM digest now stored for the host."""
        mapping: dict[str, str] = {"status": str(int(status))}
        if digest is not None:
            mapping["digest"] = digest
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(keys.host_cache(host_id), mapping=mapping)
        if digest is None:
            pipe.hdel(keys.host_cache(host_id), "digest")
        pipe.execute()

    def forget(self, host_id: str) -> None:
        self._redis.delete(keys.host_cache(host_id))
