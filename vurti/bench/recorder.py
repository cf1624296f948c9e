"""Benchmark instrumentation: what each poll and each update did, and when.

Off unless `VURTI_BENCH_RECORD` names a Redis URL. Records go to that Redis (a
separate server in `vurti bench`), so the command counts of vurti's own Redis
stay exact. A poll batch is one RPUSH; SQL statements are counted per process
by an engine listener and published by a daemon thread twice a second. Every
method swallows its errors: measuring must never break monitoring.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
import redis

log = logging.getLogger(__name__)

POLLS_KEY = "vurti:bench:polls"
UPDATES_KEY = "vurti:bench:updates"
SQL_KEY = "vurti:bench:sql"  # hash: pid -> statements sent so far by that process
SQL_FLUSH_EVERY = 0.5


def poll_result(outcome: Any) -> str:
    """One word for what a poll led to (see FetchOutcome)."""
    if outcome.skipped is not None:
        return f"skip-{outcome.skipped}"
    if outcome.report is None:
        return "unchanged"
    return "update-stats" if getattr(outcome.report, "stats_due", False) else "update"


class BenchRecorder:
    def __init__(self, client: redis.Redis, clock: Any = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._sql = 0
        self._sql_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._updates: list[bytes] = []
        self._pid = os.getpid()

    # -- polls and updates ------------------------------------------------------------
    def polls(self, outcomes: Sequence[Any]) -> None:
        finished = self._clock()
        rows = [[o.host_id, o.due_at, o.started_at, finished, poll_result(o)] for o in outcomes]
        self._push(POLLS_KEY, rows)

    def update(self, report: Any, started: float, committed: float | None, applied: bool,
               events: Sequence[Any], sql: int) -> None:
        row = {
            "host": report.host_id,
            "fetched": report.fetched_at,
            "started": started,
            "committed": committed,
            "applied": applied,
            "stats": bool(getattr(report, "stats_due", False)),
            "vms": sorted({getattr(e, "vm_id", "") for e in events} - {""}),
            "events": len(events),
            "sql": sql,
        }
        # Buffered: a round trip per update would be a measurable share of the update
        # worker's own time. The flusher thread pushes every SQL_FLUSH_EVERY seconds.
        with self._sql_lock:
            self._updates.append(orjson.dumps(row))
        self._start_flusher()

    def _flush_updates(self) -> None:
        with self._sql_lock:
            rows, self._updates = self._updates, []
        if rows:
            try:
                self._redis.rpush(UPDATES_KEY, *rows)
            except Exception:  # never break monitoring for a measurement
                log.debug("bench recorder: update push failed", exc_info=True)

    def _push(self, key: str, row: Any) -> None:
        try:
            self._redis.rpush(key, orjson.dumps(row))
        except Exception:  # never break monitoring for a measurement
            log.debug("bench recorder: push failed", exc_info=True)

    # -- SQL statements -----------------------------------------------------------------
    def sql_count(self) -> int:
        return self._sql

    def count_sql(self, engine: Any) -> None:
        """Count every statement `engine` sends; publish the running total per process."""
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._on_statement)
        self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_forever, name="vurti-bench-flush", daemon=True)
            self._flusher.start()

    def _on_statement(self, *_: Any) -> None:
        with self._sql_lock:
            self._sql += 1

    def _flush_forever(self) -> None:
        last = -1
        while True:
            time.sleep(SQL_FLUSH_EVERY)
            self._flush_updates()
            if self._sql != last:
                last = self._sql
                try:
                    self._redis.hset(SQL_KEY, str(self._pid), str(last))
                except Exception:
                    log.debug("bench recorder: SQL flush failed", exc_info=True)


def make_recorder(url: str | None) -> BenchRecorder | None:
    if not url:
        return None
    return BenchRecorder(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))
