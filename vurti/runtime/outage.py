"""One log line when a dependency (the database, Redis) stops answering, one when it is back.

A loop that retries every fraction of a second would otherwise log a traceback per
attempt for as long as the outage lasts, burying everything else. `Outage` counts the
failures, tells the caller how long to wait before the next attempt (doubling up to a
cap) and logs only the changes of state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# What a database that stopped answering raises through SQLAlchemy (refused, reset, timed out).
DB_DOWN: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


class Outage:
    def __init__(
        self,
        what: str,
        log: logging.Logger,
        expected: tuple[type[BaseException], ...] = REDIS_DOWN,
        first_retry: float = 1.0,
        max_retry: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._expected = expected  # what an outage raises; anything else is logged with its traceback
        self._log = log
        self._first = first_retry
        self._max = max_retry
        self._clock = clock
        self._since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> float:
        """Count a failure; return seconds to wait before the next attempt.

        The first failure of an outage is logged: one line for the errors an outage
        gives (connection refused, timeouts), with the traceback for anything else,
        which is more likely a bug than an outage.
        """
        self._failures += 1
        if self._since is None:
            self._since = self._clock()
            if isinstance(exc, self._expected):
                self._log.warning("%s failed (%s: %s); retrying quietly until it works again",
                                  self._what, type(exc).__name__, _first_line(exc))
            else:
                self._log.error("%s failed; retrying quietly until it works again", self._what, exc_info=exc)
        else:
            self._log.debug("%s failed again: %s", self._what, _first_line(exc))
        return min(self._max, self._first * 2 ** (self._failures - 1))

    def succeeded(self) -> None:
        if self._since is not None:
            self._log.warning("%s works again after %.1fs (%d failed attempts)",
                              self._what, self._clock() - self._since, self._failures)
        self._since = None
        self._failures = 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
