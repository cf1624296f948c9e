"""What fetch and update workers did, as Prometheus counters and histograms.

Plugged into FetchService and UpdateService as their recorder (the same seam the
benchmark uses), so the pipeline knows nothing of Prometheus. Prefork children,
thread pools and solo workers all write through prometheus_client's multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set before this module is imported); `vurti metrics`
on the same machine adds the files up at scrape time. Counters and histograms only:
they sum across processes, and a dead child's counts stay counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import Counter, Histogram

from vurti.bench.recorder import poll_result

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

POLLS = Counter("vurti_polls", "Host polls by what they led to (update, unchanged, skip-...)", ["result"])
POLL_LAG = Histogram("vurti_poll_lag_seconds", "Cycle lag: a poll's start minus the slot it was scheduled for",
                     buckets=_LATENCY)
FETCH_ERRORS = Counter("vurti_fetch_errors", "Polls that failed, by kind (unreachable, timeout, protocol, ...)",
                       ["kind"])
UPDATES = Counter("vurti_updates", "Reports handled by update workers", ["applied"])
DETECTION = Histogram("vurti_detection_latency_seconds", "From a poll's start to the commit of what it found",
                      buckets=_LATENCY)
UPDATE_DURATION = Histogram("vurti_update_duration_seconds", "Load, analyze and write of one report",
                            buckets=_LATENCY)
LOCK_CONTENTION = Counter("vurti_lock_contention", "Reports skipped: another update held the host's lock")


class WorkerMetrics:
    """A recorder for the pipeline (see vurti.bench.recorder for the same interface)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def polls(self, outcomes: Sequence[Any]) -> None:
        for o in outcomes:
            POLLS.labels(poll_result(o)).inc()
            if o.due_at is not None and o.started_at:
                POLL_LAG.observe(max(0.0, o.started_at - o.due_at))
            error = getattr(o.report, "error", None)
            if error is not None:
                FETCH_ERRORS.labels(str(error.kind)).inc()

    def update(self, report: Any, started: float, committed: float | None, applied: bool,
               events: Sequence[Any], sql: int) -> None:
        UPDATES.labels("true" if applied else "false").inc()
        UPDATE_DURATION.observe(max(0.0, (committed or self._clock()) - started))
        if committed is not None and applied:
            DETECTION.observe(max(0.0, committed - report.fetched_at))

    def contended(self, reports: int) -> None:
        if reports:
            LOCK_CONTENTION.inc(reports)

    def sql_count(self) -> int:
        return 0


class Recorders:
    """Hands every call to each recorder (the benchmark's and the metrics'); SQL counts are the benchmark's."""

    def __init__(self, *recorders: Any) -> None:
        self._all = recorders

    def polls(self, outcomes: Sequence[Any]) -> None:
        for r in self._all:
            r.polls(outcomes)

    def update(self, *args: Any) -> None:
        for r in self._all:
            r.update(*args)

    def sql_count(self) -> int:
        return sum(r.sql_count() for r in self._all)
