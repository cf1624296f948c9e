"""Every Redis key vurti uses, in one place, under one prefix."""

from __future__ import annotations

PREFIX = "vurti"

SCHEDULE = f"{PREFIX}:schedule"  # sorted set: host id -> next due time (epoch s)
INTERVALS = f"{PREFIX}:intervals"  # hash: host id -> refresh interval (s)
EVENTS_STREAM = f"{PREFIX}:events"  # stream: the live event feed
LOCK_LOG = f"{PREFIX}:lock-log"  # stream: lock acquisitions/releases, for audits and tests
MEMBERS = f"{PREFIX}:members"  # sorted set: fetch worker (connection holder) -> alive until (epoch s)
PUSH = f"{PREFIX}:push"  # hash: host id -> the member whose link carries the host's events
PUSH_INTERVALS = f"{PREFIX}:push-intervals"  # hash: host id -> safety-net poll interval while pushed (s)
SCHEDULE_SYNCED = f"{PREFIX}:schedule-synced"  # string: set by a full schedule sync; gone = Redis lost it


def member_queue(member: str) -> str:
    """The fetch queue of one connection holder (a Celery queue, a Redis list)."""
    return f"fetch.{member}"


def host_lock(host_id: str) -> str:
    return f"{PREFIX}:lock:{host_id}"


def host_fence(host_id: str) -> str:
    """Hash {epoch, n} of the host's fencing tokens (was a plain INCR counter under `fence:`)."""
    return f"{PREFIX}:fencing:{host_id}"


def host_fetching(host_id: str) -> str:
    return f"{PREFIX}:fetching:{host_id}"


def host_cache(host_id: str) -> str:
    return f"{PREFIX}:host:{host_id}"
HOST_NAMES = f"{PREFIX}:host-names"  # hash: host id -> name, for readable task arguments (Flower)
