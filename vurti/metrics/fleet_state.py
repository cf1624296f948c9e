"""The fleet's state as operations see it, read in a few aggregate queries.

Shared by the metrics exporter (on every scrape) and `vurti doctor`: hosts and VMs
by status, queue depths, hosts the schedule left unclaimed, events waiting per
subscriber, host commands by state. Reads only; a handful of round trips whatever
the fleet's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from celery.utils.nodenames import worker_direct
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from vurti.domain.status import HostStatus, VmStatus
from vurti.runtime import keys
from vurti.runtime.members import Members
from vurti.store.tables import host_commands, outbox, outbox_delivery, vds_dynamic, vm_dynamic

QUEUES = ("fetch", "update")  # the Redis lists behind Celery's queues (kombu's Redis transport)


@dataclass(frozen=True)
class FleetState:
    hosts_by_status: dict[str, int] = field(default_factory=dict)
    vms_by_status: dict[str, int] = field(default_factory=dict)
    queue_depths: dict[str, int] = field(default_factory=dict)  # "fetch": the shared queue and every member's
    hosts_scheduled: int = 0
    hosts_overdue: int = 0  # due longer than the grace ago and still not claimed by beat
    oldest_due_seconds: float = 0.0  # how long the most overdue host has waited (0: none due)
    outbox_pending: dict[str, int] = field(default_factory=dict)  # per subscriber
    outbox_oldest_seconds: dict[str, float] = field(default_factory=dict)  # age of each one's oldest
    commands_by_state: dict[str, int] = field(default_factory=dict)  # pending / done / failed
    fetch_members: int = 0  # fetch workers alive (each with a queue of its own)


def overdue_grace(interval: float) -> float:
    """How late a poll may be before its host counts as overdue: two intervals, at least 5 s."""
    return max(2 * interval, 5.0)


def read_fleet(engine: Engine, client: redis.Redis, now: float, interval: float) -> FleetState:
    with engine.connect() as conn:
        hosts = _named(HostStatus, conn.execute(
            select(vds_dynamic.c.status, func.count()).group_by(vds_dynamic.c.status)))
        vms = _named(VmStatus, conn.execute(select(vm_dynamic.c.status, func.count()).group_by(vm_dynamic.c.status)))
        pending_rows = conn.execute(
            select(outbox_delivery.c.subscriber, func.count(), func.min(outbox.c.created_at))
            .join(outbox, outbox.c.id == outbox_delivery.c.outbox_id)
            .group_by(outbox_delivery.c.subscriber)
        ).all()
        commands = {str(state): int(n) for state, n in conn.execute(
            select(host_commands.c.state, func.count()).group_by(host_commands.c.state))}
    members = Members(client).live(now)
    own_queues = [worker_direct(m).name for m in members]
    pipe = client.pipeline(transaction=False)
    for queue in (*QUEUES, *own_queues):
        pipe.llen(queue)
    pipe.zcard(keys.SCHEDULE)
    pipe.zcount(keys.SCHEDULE, "-inf", repr(now - overdue_grace(interval)))
    pipe.zrange(keys.SCHEDULE, 0, 0, withscores=True)
    *depths, scheduled, overdue, oldest = pipe.execute()
    shared = dict(zip(QUEUES, (int(n) for n in depths[: len(QUEUES)]), strict=True))
    own = dict(zip(own_queues, (int(n) for n in depths[len(QUEUES):]), strict=True))
    shared["fetch"] += sum(own.values())  # beat sends polls to the owners' queues: all of it is fetch work
    oldest_due = max(0.0, now - float(oldest[0][1])) if oldest else 0.0
    return FleetState(
        hosts_by_status=hosts,
        vms_by_status=vms,
        queue_depths={**shared, **own},
        fetch_members=len(members),
        hosts_scheduled=int(scheduled),
        hosts_overdue=int(overdue),
        oldest_due_seconds=oldest_due,
        outbox_pending={str(s): int(n) for s, n, _ in pending_rows},
        outbox_oldest_seconds={str(s): max(0.0, now - float(at)) for s, _, at in pending_rows if at is not None},
        commands_by_state=commands,
    )


def _named(enum: Any, rows: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for code, n in rows:
        try:
            name = enum(int(code)).name
        except ValueError:
            name = f"unknown_{code}"
        out[name] = out.get(name, 0) + int(n)
    return out
