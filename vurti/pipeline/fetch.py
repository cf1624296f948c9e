"""Poll hosts and decide which reports need the update path.

A steady-state cycle costs one cheap agent call (the short VM list) and a few
Redis commands: if the host is Up, no statistics are due and the VM digest
equals the one last committed, the report stops here. Otherwise a changed short
list is re-polled in full (exit codes and reasons are only in the full form)
and the report goes on to the update task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vurti.agent import HostPoller, plan_poll, vm_digest
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import FetchError, FetchErrorKind, HostReport
from vurti.domain.status import HostStatus
from vurti.runtime.host_cache import CachedHost, HostCache
from vurti.runtime.schedule import phase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchOutcome:
    host_id: str
    report: HostReport | None  # None: skipped, or polled and nothing changed
    skipped: str | None = None  # "running": not polled, its previous fetch still runs
    due_at: float | None = None
    started_at: float = 0.0
    digest: str | None = None  # VM digest of the report, when it carries a full VM list

    @property
    def needs_update(self) -> bool:
        return self.report is not None


class FetchService:
    def __init__(
        self,
        poller: HostPoller,
        cache: HostCache,
        policy: MonitoringPolicy,
        url_of: Callable[[str], str | None],
        clock: Callable[[], float],
        guard_ttl: float,
        concurrency: int = 32,
        recorder: Any = None,
    ) -> None:
        self._poller = poller
        self._cache = cache
        self._policy = policy
        self._url_of = url_of
        self._clock = clock
        self._concurrency = concurrency
        self._guard_ttl = guard_ttl  # a fetch mark outlives a crashed fetcher by this much at most
        # A digest sent to the update queue is not sent again for this long, unless statistics
        # are due: a slow update queue must not be flooded with copies of the same change.
        self._pending_window = 3 * policy.refresh_interval
        self._pool: ThreadPoolExecutor | None = None
        self._recorder = recorder  # benchmark instrumentation (vurti.bench.recorder), None in production

    def fetch_many(self, hosts: Sequence[tuple[str, float | None]], force: bool = False) -> list[FetchOutcome]:
        """Poll each (host id, scheduled time) concurrently; never raises for agent trouble."""
        if not hosts:
            return []
        ids = [h for h, _ in hosts]
        token = self._cache.new_token()
        cached = self._cache.begin_cycles(ids, token, self._guard_ttl)
        jobs = list(zip(cached, (due for _, due in hosts), strict=True))
        outcomes: list[FetchOutcome] = []
        try:
            if len(jobs) == 1:
                outcomes = [self._fetch_one(jobs[0][0], jobs[0][1], force)]
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="vurti-fetch")
                outcomes = list(self._pool.map(lambda job: self._fetch_one(job[0], job[1], force), jobs))
        finally:
            held = [c.host_id for c in cached if not c.busy]
            pending = [(o.host_id, o.digest, o.started_at) for o in outcomes if o.digest]
            self._cache.end_cycles(held, token, pending)
        if self._recorder is not None:
            self._recorder.polls(outcomes)
        return outcomes

    def _fetch_one(self, host: CachedHost, due_at: float | None, force: bool) -> FetchOutcome:
        started = self._clock()
        if host.busy:
            log.info("host %s: previous fetch still running, skipping this one", host.host_id)
            return FetchOutcome(host.host_id, None, "running", due_at, started)
        try:
            report = self._poll(host, started, force)
        except Exception as exc:  # noqa: BLE001 - one host's bug must not stop a batch
            log.exception("host %s: fetch failed unexpectedly", host.host_id)
            error = FetchError(FetchErrorKind.INVALID_DATA, f"internal error while fetching: {exc!r}")
            report = HostReport(host.host_id, started, error=error)
        if report is None:
            return FetchOutcome(host.host_id, None, None, due_at, started)  # polled, nothing to write
        digest = vm_digest(report.vms) if report.vms is not None and not report.partial else None
        return FetchOutcome(host.host_id, report, None, due_at, started, digest)

    def _poll(self, host: CachedHost, now: float, force: bool) -> HostReport | None:
        url = host.url or self._url_of(host.host_id)
        if url is None:
            error = FetchError(FetchErrorKind.UNREACHABLE, "host has no agent URL (removed?)")
            return HostReport(host.host_id, now, error=error)
        if host.url is None:
            self._cache.put_host(host.host_id, url)
        status = host.status if host.status is not None else HostStatus.Unassigned
        every = self._policy.stats_every
        # Each host takes its statistics cycles at its own offset, so a fleet's statistics
        # writes spread over the N cycles instead of landing in one.
        cycle = 0 if force else host.cycle + int(phase(host.host_id, every))
        plan = plan_poll(status, cycle, every)
        report = self._poller.poll(
            host.host_id,
            url,
            now=now,
            capabilities=plan.capabilities,
            host_stats=plan.host_stats,
            full_vms=plan.full_vms,
            stats_due=plan.stats_due,
        )
        if force or not report.ok or plan.stats_due or plan.capabilities or status is not HostStatus.Up:
            return report
        if report.vms is not None:
            digest = vm_digest(report.vms)
            if digest == host.digest:
                return None
            if digest == host.pending and host.pending_at is not None and now - host.pending_at < self._pending_window:
                return None  # this change is already on its way to the update queue
        if not plan.full_vms:
            # Something changed: exit codes, reasons and pause codes are only in the full form.
            return self._poller.poll(host.host_id, url, now=now, full_vms=True, stats_due=False)
        return report
