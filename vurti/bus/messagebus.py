"""Deliver committed events to subscribers, each on its own, none blocking the others.

Events enter the outbox table in the same transaction as the state change that
produced them. Right after commit the update path hands the new rows to `deliver`;
whatever a subscriber failed to take stays pending for it and `drain` (run
periodically) retries it, so a crash between commit and delivery loses nothing.
Subscribers register per event type in one explicit mapping (see bootstrap).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vurti.bus.subscribers import Subscriber
from vurti.domain.events import Event

log = logging.getLogger(__name__)


class MessageBus:
    def __init__(
        self,
        subscribers: Mapping[Subscriber, tuple[type[Event], ...] | None],
        uow_factory: Callable[[], Any],
    ) -> None:
        """`subscribers` maps each subscriber to the event types it takes (None: all)."""
        self._subscribers = dict(subscribers)
        self._uow_factory = uow_factory

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._subscribers)

    def wants(self, subscriber: Subscriber, event: Event) -> bool:
        types = self._subscribers[subscriber]
        return types is None or isinstance(event, types)

    def deliver(self, items: Sequence[tuple[int, Event]]) -> dict[str, int]:
        """Hand fresh outbox rows to every subscriber; return failures per subscriber name."""
        failures: dict[str, int] = {}
        if not items:
            return failures
        delivered: dict[str, list[int]] = {}
        for subscriber in self._subscribers:
            mine = [(i, e) for i, e in items if self.wants(subscriber, e)]
            try:
                if mine:
                    subscriber.handle(mine)
            except Exception:  # noqa: BLE001 - a failing subscriber must not stop the others
                log.exception("subscriber %s failed on %d events; they stay pending", subscriber.name, len(mine))
                failures[subscriber.name] = len(mine)
                continue
            delivered[subscriber.name] = [i for i, _ in items]
        self._mark(delivered)
        return failures

    def drain(self, limit: int = 500) -> int:
        """Retry what is pending for each subscriber; return how many deliveries succeeded."""
        done = 0
        for subscriber in self._subscribers:
            with self._uow_factory() as uow:
                pending = uow.outbox.pending(subscriber.name, limit)
            if not pending:
                continue
            mine = [(i, e) for i, e in pending if self.wants(subscriber, e)]
            try:
                if mine:
                    subscriber.handle(mine)
            except Exception:  # noqa: BLE001
                log.exception("subscriber %s still failing on %d events", subscriber.name, len(mine))
                continue
            self._mark({subscriber.name: [i for i, _ in pending]})
            done += len(mine)
        return done

    def _mark(self, delivered: Mapping[str, list[int]]) -> None:
        if not any(delivered.values()):
            return
        try:
            with self._uow_factory() as uow:
                for name, ids in delivered.items():
                    if ids:
                        uow.outbox.mark_delivered(name, ids)
                uow.commit()
        except Exception:  # noqa: BLE001 - redelivery later is harmless (subscribers are idempotent)
            log.exception("could not mark events delivered; they will be delivered again")
