"""Retention: delete rows nothing needs any more, so tables stop growing with time.

What goes, each older than its own limit (`RetentionSettings`, the VURTI_RETAIN_*
variables): outbox events every subscriber has taken (an event still pending or
parked for any subscriber is never deleted), audit lines, host commands that are
done or given up, and the statistics of VMs not reported for that long (VMs long
gone). Each kind is deleted in its own short transaction, in chunks, so a first purge
of a large table does not hold the writers back for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, delete, exists, select

from vurti.config import RetentionSettings
from vurti.store.command_repository import DONE, FAILED
from vurti.store.tables import audit_log, host_commands, outbox, outbox_delivery, vm_statistics

DAY = 86_400.0
CHUNK = 5_000  # rows per DELETE


@dataclass(frozen=True)
class Purged:
    outbox: int = 0
    audit: int = 0
    commands: int = 0
    vm_statistics: int = 0


def purge(uow_factory: Callable[[], Any], keep: RetentionSettings, now: float) -> Purged:
    """Delete what is older than `keep` allows; return how many rows of each kind went."""
    undelivered = exists().where(outbox_delivery.c.outbox_id == outbox.c.id)
    finished = host_commands.c.state.in_((DONE, FAILED))
    return Purged(
        outbox=_delete(uow_factory, outbox, outbox.c.id,
                       and_(outbox.c.created_at < now - keep.outbox_days * DAY, ~undelivered)),
        audit=_delete(uow_factory, audit_log, audit_log.c.id, audit_log.c.at < now - keep.audit_days * DAY),
        commands=_delete(uow_factory, host_commands, host_commands.c.id,
                         and_(finished, host_commands.c.created_at < now - keep.commands_days * DAY)),
        vm_statistics=_delete(uow_factory, vm_statistics, vm_statistics.c.vm_id,
                              vm_statistics.c.updated_at < now - keep.stats_days * DAY),
    )


def _delete(uow_factory: Callable[[], Any], table: Table, key: Any, condition: Any) -> int:
    total = 0
    while True:
        with uow_factory() as uow:
            chunk = select(key).where(condition).limit(CHUNK).scalar_subquery()
            deleted = int(uow.connection.execute(delete(table).where(key.in_(chunk))).rowcount)
            uow.commit()
        total += deleted
        if deleted < CHUNK:
            return total
