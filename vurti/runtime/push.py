"""Which hosts' events flow, and through whom: the safety-net cadence's switch, in Redis.

`vurti:push` maps a host to the member whose link to it is subscribed to VDSM's
events. While the entry exists, beat schedules the host's polls at its push
interval (the safety net, oVirt 4.x: 15 s) instead of its refresh interval.
The holder sets it after a poll over a subscribed link, and removes it when
the link breaks (closed, reset, heart-beats stopped), putting the host back on
the schedule at once; beat removes the entries of members that died, the same
way. So a host whose events stop is polled at its normal cadence again within
one beat tick, and an event lost meanwhile is caught by the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from redis.typing import EncodableT, FieldT

from vurti.runtime import keys

# KEYS: push hash, schedule zset. ARGV: now, member ('' = any), host ids...
# Removes the hosts' entries (only the member's own, when a member is given) and makes them due now.
_RELEASE = """
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local holder = redis.call('HGET', KEYS[1], id)
  if holder and (ARGV[2] == '' or holder == ARGV[2]) then
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    n = n + 1
  end
end
return n
"""


class PushRegistry:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)

    def hold(self, member: str, host_ids: Iterable[str]) -> None:
        """`member`'s subscribed links carry these hosts' events."""
        mapping: dict[FieldT, EncodableT] = dict.fromkeys(host_ids, member)
        if mapping:
            self._redis.hset(keys.PUSH, mapping=mapping)

    def release(self, host_ids: Iterable[str], now: float, member: str = "") -> int:
        """These hosts' events stopped (only `member`'s entries, when given): poll them now."""
        ids = list(host_ids)
        if not ids:
            return 0
        return int(self._release(keys=[keys.PUSH, keys.SCHEDULE], args=[repr(now), member, *ids]))

    def holders(self) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in self._redis.hgetall(keys.PUSH).items()}

    def take_over(self, live_members: Iterable[str], now: float) -> int:
        """Release the hosts held by members that are not alive any more; how many."""
        live = set(live_members)
        orphans = [host for host, member in self.holders().items() if member not in live]
        return self.release(orphans, now)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
