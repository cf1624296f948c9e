"""Apply one report: lock the host, load, analyze, write in one transaction, then publish.

Order matters: state, events (outbox) and host commands are committed together
under the host's lock and fencing token; only after the commit are events
delivered, the hot-path cache refreshed and commands sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vurti.agent import vm_digest
from vurti.analyze import analyze
from vurti.bus.messagebus import MessageBus
from vurti.domain.analysis import Analysis
from vurti.domain.events import Event
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport
from vurti.runtime.host_cache import HostCache
from vurti.runtime.locking import HostLocks
from vurti.domain.status import HostStatus
from vurti.store.updater import ApplyResult, apply_analysis

log = logging.getLogger(__name__)

MAX_REDO = 3  # analyses redone when another host's update changed one of the VMs meanwhile


@dataclass(frozen=True)
class UpdateOutcome:
    host_id: str
    applied: bool  # False: unknown host, stale report or a lost lock
    reason: str | None = None
    status: str | None = None
    changes: tuple[str, ...] = field(default=())  # one readable line per event
    commands: int = 0
    committed_at: float | None = None
    events: tuple[Event, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "applied": self.applied,
            "reason": self.reason,
            "status": self.status,
            "changes": list(self.changes),
            "commands": self.commands,
        }


class UpdateService:
    def __init__(
        self,
        uow_factory: Callable[[], Any],
        locks: HostLocks,
        bus: MessageBus,
        cache: HostCache,
        policy: MonitoringPolicy,
        clock: Callable[[], float],
        recorder: Any = None,
    ) -> None:
        self._recorder = recorder  # benchmark instrumentation (vurti.bench.recorder), None in production
        self._uow_factory = uow_factory
        self._locks = locks
        self._bus = bus
        self._cache = cache
        self._policy = policy
        self._clock = clock

    def update(self, report: HostReport, wait_for_lock: float | None = None) -> UpdateOutcome:
        """Raises LockBusy when another worker holds the host (periodic callers skip, manual ones retry)."""
        if self._recorder is None:
            return self._update(report, wait_for_lock)
        started, sql = self._clock(), self._recorder.sql_count()
        outcome = self._update(report, wait_for_lock)
        self._recorder.update(report, started, outcome.committed_at, outcome.applied, outcome.events,
                              self._recorder.sql_count() - sql)
        return outcome

    def _update(self, report: HostReport, wait_for_lock: float | None) -> UpdateOutcome:
        with self._locks.hold(report.host_id, blocking_timeout=wait_for_lock) as lease:
            reported = [vm.vm_id for vm in report.vms or ()]
            for _attempt in range(MAX_REDO):
                now = self._clock()
                with self._uow_factory() as uow:
                    snapshot = uow.hosts.load_snapshot(report.host_id, reported)
                    if snapshot is None:
                        return UpdateOutcome(report.host_id, False, "unknown host")
                    analysis = analyze(snapshot, report, now, self._policy)
                    if analysis.stale:
                        return UpdateOutcome(report.host_id, False, "stale report", snapshot.state.status.name)
                    written = apply_analysis(uow, snapshot, analysis, lease.fence_token, now, self._bus.names)
                if not written.conflict:
                    break
            if not written:
                reason = "VMs kept changing under this update" if written.conflict else (
                    "lost the host's lock (fencing token refused)")
                return UpdateOutcome(report.host_id, False, reason)
            committed_at = self._clock()
            status = (analysis.host or snapshot.state).status
            self._after_commit(report, analysis, written, status)
            return UpdateOutcome(
                report.host_id,
                True,
                None,
                status.name,
                tuple(e.describe() for e in analysis.events),
                len(analysis.commands),
                committed_at,
                analysis.events,
            )

    def _after_commit(self, report: HostReport, analysis: Analysis, written: ApplyResult, status: HostStatus) -> None:
        digest = vm_digest(report.vms) if report.vms is not None and not report.partial else None
        try:
            self._cache.record(report.host_id, status, digest)
        except Exception:  # noqa: BLE001 - the cache refills on the next poll
            log.warning("host %s: could not refresh the poll cache", report.host_id, exc_info=True)
        if written.events:
            self._bus.deliver(list(written.events))
