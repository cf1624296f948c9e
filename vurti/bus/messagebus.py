"""Deliver committed events to subscribers, each on its own, none blocking the others.

Events enter the outbox table in the same transaction as the state change that
produced them. Right after commit the update path hands the new rows to `deliver`;
whatever a subscriber failed to take stays pending for it and `drain` (run
periodically) retries it, so a crash between commit and delivery loses nothing.
Subscribers register per event type in one explicit mapping (see bootstrap).

An event a subscriber cannot take (a poison event) must not hold back the ones
behind it: when a drained batch fails, its events are tried one at a time; each one
that fails again is retried with exponential backoff and, after `max_attempts`,
parked: logged with the reason and kept in the outbox (its delivery row stays, with
the attempts and the last error) but no longer retried, so later events flow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vurti.bus.subscribers import Subscriber
from vurti.domain.events import Event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # failed drains of one event before it is parked (~21 min of backoff)
RETRY_AFTER = 10.0  # seconds before the first retry, doubled after each failure
RETRY_CAP = 600.0
ALONE_FAILURES = 3  # events failing on their own in a row: the subscriber is down, stop for this round


def retry_delay(attempts: int) -> float:
    """Seconds to hold an event back after its `attempts`th failure."""
    return min(RETRY_CAP, RETRY_AFTER * 2 ** max(0, attempts - 1))


class MessageBus:
    def __init__(
        self,
        subscribers: Mapping[Subscriber, tuple[type[Event], ...] | None],
        uow_factory: Callable[[], Any],
        clock: Callable[[], float] = time.time,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """`subscribers` maps each subscriber to the event types it takes (None: all)."""
        self._subscribers = dict(subscribers)
        self._uow_factory = uow_factory
        self._clock = clock
        self._max_attempts = max_attempts

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
            except Exception:  # a failing subscriber must not stop the others
                log.exception("subscriber %s failed on %d events; they stay pending", subscriber.name, len(mine))
                failures[subscriber.name] = len(mine)
                continue
            delivered[subscriber.name] = [i for i, _ in items]
        self._mark(delivered)
        return failures

    def drain(self, limit: int = 500) -> int:
        """Retry what is pending and due for each subscriber; return how many deliveries succeeded."""
        done = 0
        now = self._clock()
        for subscriber in self._subscribers:
            with self._uow_factory() as uow:
                pending = uow.outbox.pending(subscriber.name, limit, now=now, max_attempts=self._max_attempts)
                uow.commit()  # rows that cannot be read back were parked
            if not pending:
                continue
            mine = [(i, e) for i, e in pending if self.wants(subscriber, e)]
            skipped = [i for i, e in pending if not self.wants(subscriber, e)]
            try:
                if mine:
                    subscriber.handle(mine)
            except Exception:  # find the events it cannot take, one at a time
                log.warning("subscriber %s failed on %d events; trying them one at a time",
                            subscriber.name, len(mine), exc_info=True)
                taken = self._one_at_a_time(subscriber, mine, now)
                self._mark({subscriber.name: skipped + taken})
                done += len(taken)
                continue
            self._mark({subscriber.name: [i for i, _ in pending]})
            done += len(mine)
        return done

    def retry_parked(self, subscriber: str | None = None) -> int:
        """Put parked events back in line (after the subscriber's problem was fixed); how many."""
        with self._uow_factory() as uow:
            count = uow.outbox.unpark(self._max_attempts, subscriber)
            uow.commit()
        return count

    def _one_at_a_time(self, subscriber: Subscriber, items: Sequence[tuple[int, Event]], now: float) -> list[int]:
        """Deliver `items` singly; record each failure (backoff, then parked); the ids taken."""
        taken: list[int] = []
        failed: dict[int, str] = {}
        for outbox_id, event in items:
            try:
                subscriber.handle([(outbox_id, event)])
            except Exception as exc:  # noqa: BLE001 - recorded below, with the reason
                failed[outbox_id] = f"{type(exc).__name__}: {exc}"
                if len(failed) >= ALONE_FAILURES and not taken:
                    break  # nothing goes through: the subscriber itself is down, not one event
                continue
            taken.append(outbox_id)
        if failed:
            self._record_failures(subscriber.name, failed, now)
        return taken

    def _record_failures(self, name: str, failed: Mapping[int, str], now: float) -> None:
        try:
            with self._uow_factory() as uow:
                before = uow.outbox.attempts(name, failed)
                for outbox_id, error in failed.items():
                    attempts = before.get(outbox_id, 0) + 1
                    uow.outbox.mark_failed(name, [outbox_id], error, now + retry_delay(attempts))
                    if attempts >= self._max_attempts:
                        log.error("subscriber %s: event %d parked after %d failed attempts, no more retries: %s",
                                  name, outbox_id, attempts, error)
                    else:
                        log.warning("subscriber %s: event %d failed (attempt %d of %d), retry in %.0fs: %s",
                                    name, outbox_id, attempts, self._max_attempts, retry_delay(attempts), error)
                uow.commit()
        except Exception:  # the events stay pending and are tried again
            log.exception("could not record failed deliveries to %s", name)

    def _mark(self, delivered: Mapping[str, list[int]]) -> None:
        if not any(delivered.values()):
            return
        try:
            with self._uow_factory() as uow:
                for name, ids in delivered.items():
                    if ids:
                        uow.outbox.mark_delivered(name, ids)
                uow.commit()
        except Exception:  # redelivery later is harmless (subscribers are idempotent)
            log.exception("could not mark events delivered; they will be delivered again")
