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
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.beat import Scheduler

from vurti.bootstrap import services
from vurti.runtime.host_names import batch_label, label
from vurti.runtime.schedule import chunks

log = logging.getLogger(__name__)

DISPATCH_EVERY = 0.2  # seconds between claims: bounds the cycle lag it adds
SYNC_EVERY = 2.0  # seconds between re-reads of the host list (runtime adds/removals)
SINGLE_TASK_LIMIT = 20  # up to this many due hosts: one task each
FETCH_QUEUE = "fetch"  # the Redis lists behind the queues (kombu's Redis transport)
UPDATE_QUEUE = "update"


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
        self._batch = services().settings.fetch_batch

    def tick(self, *args: Any, **kwargs: Any) -> float:
        delay = super().tick(*args, **kwargs)
        try:
            self._dispatch()
        except Exception:  # noqa: BLE001 - beat must keep ticking through Redis/DB hiccups
            log.exception("dispatching due hosts failed; retrying next tick")
        return min(delay, DISPATCH_EVERY)

    def _dispatch(self) -> None:
        svc = services()
        now = time.time()
        if now >= self._next_sync:
            added, removed = svc.sync_schedule(now)
            if added or removed:
                log.info("schedule: %d hosts added, %d removed", added, removed)
            self._next_sync = now + SYNC_EVERY
        pipe = svc.redis.pipeline(transaction=False)
        fetch_queued, updates_queued = pipe.llen(FETCH_QUEUE).llen(UPDATE_QUEUE).execute()
        settings = svc.settings
        room = claim_room(fetch_queued, settings.fetch_backlog, self._batch, updates_queued, settings.update_backlog)
        if room == 0:
            return  # the workers are behind: leave hosts due rather than queue work that waits
        claims = svc.schedule.claim_due(now, limit=room)
        if not claims:
            return
        app = self.app
        name = svc.host_names.known  # names synced from the database above: no round trip
        with app.producer_or_acquire() as producer:
            if len(claims) <= SINGLE_TASK_LIMIT:
                for c in claims:
                    app.send_task(
                        "vurti.fetch_host",
                        args=[c.host_id, c.due_at],
                        argsrepr=repr([label(c.host_id, name(c.host_id)), c.due_at]),
                        expires=_utc(c.expires_at),
                        producer=producer,
                    )
                return
            for batch in chunks(claims, self._batch):
                app.send_task(
                    "vurti.fetch_hosts",
                    args=[[[c.host_id, c.due_at] for c in batch]],
                    argsrepr=batch_label([name(c.host_id) or c.host_id for c in batch]),
                    expires=_utc(min(c.expires_at for c in batch)),
                    producer=producer,
                )


def _utc(epoch: float) -> datetime:
    """Celery reads a number as seconds from now; an absolute expiry must be a datetime."""
    return datetime.fromtimestamp(epoch, tz=UTC)
