"""Which process holds which host's connection: live members in Redis, hosts spread by rendezvous hashing.

Every fetch worker is a member: it renews `alive until` in one sorted set every
second or so, and a member whose time ran out is gone. A host belongs to the
live member with the highest hash of (member, host) (rendezvous hashing): every
process computes the same owner from the same member list, a member that leaves
hands over only its own hosts, and a member that joins takes about 1/N of them.
Beat sends each host's polls to its owner's queue, so the owner's link to the
host is the host's only connection; owners close links to hosts they no longer own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import cast

import redis

from vurti.runtime import keys

MEMBER_TTL = 5.0  # seconds a member counts as alive after its last heartbeat


def owner(host_id: str, members: Sequence[str]) -> str | None:
    """The member that holds `host_id`'s connection (None when there is no member)."""
    best: str | None = None
    best_score = b""
    encoded = host_id.encode()
    for member in members:
        score = hashlib.blake2b(member.encode() + b"\0" + encoded, digest_size=8).digest()
        if score > best_score:
            best, best_score = member, score
    return best


def assign(host_ids: Iterable[str], members: Sequence[str]) -> dict[str | None, list[str]]:
    """Hosts grouped by owner."""
    groups: dict[str | None, list[str]] = {}
    for host_id in host_ids:
        groups.setdefault(owner(host_id, members), []).append(host_id)
    return groups


class Members:
    def __init__(self, client: redis.Redis, ttl: float = MEMBER_TTL) -> None:
        self._redis = client
        self.ttl = ttl

    def heartbeat(self, member: str, now: float) -> None:
        self._redis.zadd(keys.MEMBERS, {member: now + self.ttl})

    def leave(self, member: str) -> None:
        self._redis.zrem(keys.MEMBERS, member)

    def live(self, now: float) -> list[str]:
        """Members alive at `now`, sorted (the same list in every process)."""
        return sorted(_text(m) for m in _members(self._redis.zrangebyscore(keys.MEMBERS, now, "+inf")))

    def prune(self, now: float) -> list[str]:
        """Forget members whose time ran out; return them."""
        gone = [_text(m) for m in _members(self._redis.zrangebyscore(keys.MEMBERS, "-inf", f"({now}"))]
        if gone:
            self._redis.zrem(keys.MEMBERS, *gone)
        return gone


def _members(reply: object) -> list[bytes | str]:
    # redis-py types zrangebyscore's result for every option at once; without scores it is the members
    return cast("list[bytes | str]", reply)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
