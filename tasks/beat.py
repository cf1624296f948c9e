"""A beat scheduler that also dispatches the per-host polls from the Redis schedule.

Beat's ordinary entries (outbox drain, command retries) run as usual. On every
tick the scheduler also claims the hosts that are due (vurti.runtime.schedule:
atomic, so several beat processes never claim a host twice) and sends their fetch
tasks with an expiry of one interval, so a backlog never replays stale polls.
A few due hosts go out as one `fetch_host` task each, the unit Flower shows and a
person triggers; many due at once go out in batches (`fetch_hosts`), since one
message per poll would cost more CPU than the polls (MACHINE-LIMITS.md). While the
fetch queue (VURTI_FETCH_BACKLOG messages) or the update queue (VURTI_UPDATE_BACKLOG)
is backed up, nothing more is claimed: when the machines are short of capacity, polls
are late rather than changes left unwritten in an ever longer update queue.

Each host's polls go to the queue of the fetch worker that holds its connection
(vurti.runtime.members: rendezvous hashing over the live members), the shared
`fetch` queue only while no fetch worker is a member. When a member dies, beat
puts the hosts whose events it carried back on the normal cadence at once
(vurti.runtime.push), so their new owner polls them within a tick.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.beat import Scheduler
from celery.utils.nodenames import worker_direct
from sqlalchemy.exc import DBAPIError

from tasks import queues
from vurti.bootstrap import services
from vurti.runtime.host_names import batch_label, label
from vurti.runtime.members import owner
from vurti.runtime.outage import REDIS_DOWN, Outage
from vurti.runtime.schedule import Claim, chunks

log = logging.getLogger(__name__)

DISPATCH_EVERY = 0.2  # seconds between claims: bounds the cycle lag it adds
SYNC_EVERY = 2.0  # seconds between re-reads of the host list (runtime adds/removals)
TAKE_OVER_EVERY = 10.0  # seconds between sweeps for hosts held by members that are gone
SINGLE_TASK_LIMIT = 20  # up to this many due hosts: one task each


def claim_room(queued: int, backlog: int, batch: int, updates_queued: int = 0, update_backlog: int = 0) -> int:
    """How many due hosts to claim now: none while the fetch queue holds `backlog` messages
    or the update queue `update_backlog` (0: not watched).

    Polls claimed while the fetch workers are behind would wait in the queue and expire
    unpolled, costing broker traffic and worker time for nothing. Polls claimed while
    the update workers are behind add reports to a queue that only grows, so every
    change is written later and later (and on a shared machine the polls take the CPU
    the updates need). Hosts left due are claimed as soon as there is room, and skip
    the slots they missed.
    """
    if update_backlog and updates_queued >= update_backlog:
        return 0
    return max(0, backlog - queued) * batch


class HostScheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sync = 0.0
        self._next_take_over = 0.0
        self._members: list[str] = []
        self._batch = services().settings.fetch_batch
        self._db = Outage("schedule sync with the database", log, (DBAPIError, *REDIS_DOWN), first_retry=SYNC_EVERY)
        self._redis = Outage("dispatching due hosts", log, first_retry=DISPATCH_EVERY, max_retry=5.0)
        self._next_dispatch = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        delay = super().tick(*args, **kwargs)
        now = time.time()
        self._sync(now)
        if now >= self._next_dispatch:
            try:
                self._dispatch(now)
            except Exception as exc:  # noqa: BLE001 - beat must keep ticking through Redis hiccups
                self._next_dispatch = now + self._redis.failed(exc)
            else:
                self._redis.succeeded()
        return min(delay, DISPATCH_EVERY)

    def _sync(self, now: float) -> None:
        """Runtime adds and removals; while the database is away, claiming goes on from Redis
        with the last schedule synced (one log line per outage, retries backing off)."""
        if now < self._next_sync:
            return
        try:
            added, removed = services().sync_schedule(now)
        except Exception as exc:  # noqa: BLE001 - polling must not depend on the database
            self._next_sync = now + self._db.failed(exc)
            return
        self._db.succeeded()
        if added or removed:
            log.info("schedule: %d hosts added, %d removed", added, removed)
        self._next_sync = now + SYNC_EVERY

    def _dispatch(self, now: float) -> None:
        svc = services()
        members = svc.members.live(now)
        if members != self._members or now >= self._next_take_over:
            taken = svc.push.take_over(members, now)
            if taken:
                log.info("%d hosts of members that left are back on the normal poll cadence", taken)
            if members != self._members:
                log.info("fetch members: %s", ", ".join(members) or "none (polls go to the shared fetch queue)")
            self._members, self._next_take_over = members, now + TAKE_OVER_EVERY
        pipe = svc.redis.pipeline(transaction=False)
        pipe.llen(queues.UPDATE)
        pipe.llen(queues.EVENTS)
        pipe.llen(queues.FETCH)
        for member in members:
            pipe.llen(worker_direct(member).name)
        polls_queued, events_queued, *fetch_queued = pipe.execute()
        updates_queued = polls_queued + events_queued
        settings = svc.settings
        room = claim_room(sum(fetch_queued), settings.fetch_backlog * max(1, len(members)), self._batch,
                          updates_queued, settings.update_backlog)
        if room == 0:
            return  # the workers are behind: leave hosts due rather than queue work that waits
        claims = svc.schedule.claim_due(now, limit=room)
        if not claims:
            return
        by_owner: dict[str | None, list[Claim]] = {}
        for claim in claims:
            by_owner.setdefault(owner(claim.host_id, members), []).append(claim)
        with self.app.producer_or_acquire() as producer:
            for member, owned in by_owner.items():
                self._send(owned, worker_direct(member) if member else queues.FETCH, producer)

    def _send(self, claims: list[Claim], queue: Any, producer: Any) -> None:
        app = self.app
        name = services().host_names.known  # names synced from the database: no round trip
        if len(claims) <= SINGLE_TASK_LIMIT:
            for c in claims:
                app.send_task(
                    "vurti.fetch_host",
                    args=[c.host_id, c.due_at],
                    argsrepr=repr([label(c.host_id, name(c.host_id)), c.due_at]),
                    expires=_utc(c.expires_at),
                    queue=queue,
                    producer=producer,
                )
            return
        for batch in chunks(claims, self._batch):
            app.send_task(
                "vurti.fetch_hosts",
                args=[[[c.host_id, c.due_at] for c in batch]],
                argsrepr=batch_label([name(c.host_id) or c.host_id for c in batch]),
                expires=_utc(min(c.expires_at for c in batch)),
                queue=queue,
                producer=producer,
            )


def _utc(epoch: float) -> datetime:
    """Celery reads a number as seconds from now; an absolute expiry must be a datetime."""
    return datetime.fromtimestamp(epoch, tz=UTC)
