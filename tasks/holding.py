"""A fetch worker holds its hosts' connections: its own queue, membership, events to the update queue.

Only workers that consume the `fetch` queue hold connections. Each gets a queue of
its own (Celery's worker-direct queue, `<nodename>.dq2`), where beat sends the polls
of the hosts it owns (vurti.runtime.members), so a host's polls and its events go
over one link in one process. Run fetch workers with `-P threads` (or solo): the
links live in the worker's own process, shared by its threads.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from celery.utils.nodenames import worker_direct

from tasks.queues import EVENTS, FETCH
from tasks.serialization import NAME
from vurti.bootstrap import services
from vurti.domain.report import HostReport

log = logging.getLogger(__name__)

_member: list[str] = []  # this worker's node name, when it holds connections


@celeryd_after_setup.connect
def _own_queue(sender: str, instance: Any, **_: Any) -> None:
    queues = instance.app.amqp.queues
    if FETCH not in queues.consume_from:
        return
    queues.select_add(worker_direct(sender))
    _member.append(sender)


@worker_ready.connect
def _hold(**_: Any) -> None:
    if not _member:
        return
    svc = services()
    holder = svc.hold_connections(_member[0], send_events)
    holder.start(svc.agent)
    log.info("holding host connections as %s (members: %s)", holder.member, ", ".join(holder.live))


@worker_shutdown.connect
def _leave(**_: Any) -> None:
    holder = services().holder
    if holder is not None:
        holder.stop()


def send_events(reports: list[HostReport]) -> None:
    """Pushed events go the polls' way, update_hosts, on the queue update workers read first."""
    from tasks.monitoring import update_hosts

    update_hosts.apply_async(args=[reports], argsrepr=repr([r.host_id for r in reports]), serializer=NAME,
                             queue=EVENTS)
