"""Host id -> name, kept in Redis, so task arguments and logs can name hosts (Flower, the fetch log).

Messages carry host ids; a person looks for host names. Beat writes the names it
reads from the database when it syncs the schedule (only the ones that changed);
workers read them with one HMGET per message and remember them, so naming a host
never costs a database query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import redis
from redis.typing import EncodableT, FieldT

from vurti.runtime import keys


def label(host_id: str, name: str | None) -> str:
    """`host-0001 (id)`: the name a person knows, the id the messages carry."""
    return f"{name} ({host_id})" if name else host_id


def batch_label(names: Sequence[str]) -> str:
    return f"{len(names)} hosts: {', '.join(names)}"


class HostNames:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._known: dict[str, str] = {}

    def sync(self, names: Mapping[str, str]) -> None:
        """Make Redis hold exactly `names` (writes only what changed since the last sync)."""
        changed: dict[FieldT, EncodableT] = {
            host_id: name for host_id, name in names.items() if self._known.get(host_id) != name
        }
        gone = [host_id for host_id in self._known if host_id not in names]
        if changed or gone:
            pipe = self._redis.pipeline(transaction=False)
            if changed:
                pipe.hset(keys.HOST_NAMES, mapping=changed)
            if gone:
                pipe.hdel(keys.HOST_NAMES, *gone)
            pipe.execute()
        self._known = dict(names)

    def names(self, host_ids: Iterable[str]) -> list[str]:
        """Each host's name (its id when unknown); Redis is asked only about hosts not seen before."""
        ids = list(host_ids)
        missing = [h for h in dict.fromkeys(ids) if h not in self._known]
        if missing:
            found = self._redis.hmget(keys.HOST_NAMES, missing)
            for host_id, raw in zip(missing, found, strict=True):
                if raw is not None:
                    self._known[host_id] = raw.decode() if isinstance(raw, bytes) else str(raw)
        return [self._known.get(h, h) for h in ids]

    def known(self, host_id: str) -> str | None:
        """The name remembered in this process, without asking Redis (beat's hot path)."""
        return self._known.get(host_id)
