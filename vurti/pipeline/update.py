"""Apply reports: lock the host, load, analyze, write in one transaction, then publish.

Order matters: state, events (outbox) and host commands are committed together
under the host's lock and fencing token; only after the commit are the hot-path
cache refreshed, events delivered and commands sent. `update` takes one report
(a manual refresh, a single poll); `update_many` a batch from one fetch message,
with one Redis round trip for its locks and one for the cache, two queries to
load it, one transaction and one statement per table to write it, and one
delivery of its events, while every host keeps its own fencing token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vurti.agent import device_digest, report_digest
from vurti.analyze import administer, analyze
from vurti.bus.messagebus import MessageBus
from vurti.domain.admin import AdminAction
from vurti.domain.analysis import Analysis
from vurti.domain.events import Event
from vurti.domain.model import HostSnapshot
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport
from vurti.domain.status import HostStatus
from vurti.runtime.host_cache import KEEP_DIGEST, HostCache
from vurti.runtime.locking import HostLocks, Lease, LockBusy
from vurti.store.updater import ApplyResult, Write, apply_analyses, apply_analysis

log = logging.getLogger(__name__)

MAX_REDO = 3  # analyses redone when another host's update changed one of the VMs meanwhile
EVENT_LOCK_WAIT = 5.0  # seconds a pushed event waits for its host's lock (a poll's update holds it)
STALE_REPORT = "stale report"  # a newer report of the host was applied first
LOCKED = "locked by another update"  # another update held the host's lock


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

    def update(self, report: HostReport, wait_for_lock: float | None = None, owner: str | None = None) -> UpdateOutcome:
        """Raises LockBusy when another worker holds the host (periodic callers skip, manual ones retry).

        `owner`: the task message's id, so that its redelivery takes over a hold left by a killed worker.
        """
        with self._locks.hold(report.host_id, blocking_timeout=wait_for_lock, owner=owner) as lease:
            outcome, committed = self._measured(report, lease)
            self._publish([committed] if committed else [])
        return outcome

    def administer(self, host_id: str, action: AdminAction, wait_for_lock: float = 10.0) -> UpdateOutcome:
        """An administrator's request (maintenance, activate), written as monitoring writes: under
        the host's lock and fencing token, its events through the outbox, the poll cache refreshed.

        Raises LockBusy (the host's update held its lock too long) and RequestRefused.
        """
        with self._locks.hold(host_id, blocking_timeout=wait_for_lock) as lease:
            now = self._clock()
            with self._uow_factory() as uow:
                snapshot = uow.hosts.load_snapshot(host_id)
                if snapshot is None:
                    return UpdateOutcome(host_id, False, "unknown host")
                analysis = administer(snapshot, action, now)
                written = apply_analysis(uow, snapshot, analysis, lease.fence_token, now, self._bus.names)
            outcome, committed = self._settled_request(host_id, snapshot, analysis, written)
            self._publish([committed] if committed else [])
        return outcome

    def _settled_request(
        self, host_id: str, snapshot: HostSnapshot, analysis: Analysis, written: ApplyResult
    ) -> tuple[UpdateOutcome, _Committed | None]:
        if not written:
            return UpdateOutcome(host_id, False, "lost the host's lock (fencing token refused)"), None
        status = (analysis.host or snapshot.state).status
        outcome = UpdateOutcome(host_id, True, None, status.name, tuple(e.describe() for e in analysis.events),
                                committed_at=self._clock(), events=analysis.events)
        return outcome, _Committed(host_id, status, KEEP_DIGEST, written.events)

    def update_many(self, reports: Sequence[HostReport], owner: str | None = None) -> list[UpdateOutcome]:
        """Apply a batch of reports under the batch's locks, publishing once.

        The reports are loaded, analyzed and written together (one transaction, shared
        statements, each host fenced on its own token). What cannot go that way is
        applied one report at a time: a batch whose writes overlap or met a concurrent
        change, or one that failed. A host locked elsewhere is skipped (periodic work:
        its next poll sends it again); a report that fails is logged and does not stop
        the others. A pushed event is not periodic (nothing sends it again): it waits
        for its host's lock instead, after the batch.
        """
        outcomes: dict[int, UpdateOutcome] = {}
        waiting: list[tuple[int, HostReport]] = []
        published: list[_Committed] = []
        with self._locks.hold_many([r.host_id for r in reports], owner) as leases:
            ready: list[tuple[int, HostReport, Lease]] = []
            for i, report in enumerate(reports):
                lease = leases.get(report.host_id)
                if lease is None and report.partial:
                    waiting.append((i, report))
                elif lease is None:
                    log.info("host %s: update already running elsewhere, skipping this report", report.host_id)
                    outcomes[i] = UpdateOutcome(report.host_id, False, LOCKED)
                elif lease.expired:
                    outcomes[i] = UpdateOutcome(report.host_id, False, "lock expired before its turn in the batch")
                else:
                    ready.append((i, report, lease))
            if len(ready) > 1:
                try:
                    done = self._apply_together(ready)
                except Exception:  # each report is retried on its own below
                    log.exception("batch of %d reports failed; applying them one at a time", len(ready))
                    done = {}
                for i, (outcome, committed) in done.items():
                    outcomes[i] = outcome
                    if committed is not None:
                        published.append(committed)
            for i, report, lease in ready:
                if i in outcomes:
                    continue
                if lease.expired:
                    outcomes[i] = UpdateOutcome(report.host_id, False, "lock expired before its turn in the batch")
                    continue
                try:
                    outcome, committed = self._measured(report, lease)
                except Exception:  # one host's failure must not lose the batch's other reports
                    log.exception("host %s: update failed", report.host_id)
                    outcome, committed = UpdateOutcome(report.host_id, False, "internal error"), None
                outcomes[i] = outcome
                if committed is not None:
                    published.append(committed)
            self._publish(published)  # still under the locks: the cache must not go back in time
        for i, report in waiting:
            try:
                outcomes[i] = self.update(report, wait_for_lock=EVENT_LOCK_WAIT, owner=owner)
            except LockBusy:
                log.warning("host %s: pushed event not applied, its lock stayed busy for %.0f s (the next "
                            "safety-net poll brings its state)", report.host_id, EVENT_LOCK_WAIT)
                outcomes[i] = UpdateOutcome(report.host_id, False, "locked by another update")
        return [outcomes[i] for i in range(len(reports))]

    def _apply_together(
        self, ready: Sequence[tuple[int, HostReport, Lease]]
    ) -> dict[int, tuple[UpdateOutcome, _Committed | None]]:
        """Load, analyze and write the reports in one transaction. Returns what it settled:
        all of them, or, when the writes must go one at a time, only the unknown and stale."""
        started = self._clock()
        sql = self._recorder.sql_count() if self._recorder is not None else 0
        now = started
        done: dict[int, tuple[UpdateOutcome, _Committed | None]] = {}
        pending: list[tuple[int, HostReport, Write]] = []
        with self._uow_factory() as uow:
            snapshots = uow.hosts.load_snapshots([(r.host_id, [vm.vm_id for vm in r.vms or ()]) for _, r, _ in ready])
            snapshots = with_devices(uow, snapshots, [r for _, r, _ in ready])
            for i, report, lease in ready:
                snapshot = snapshots.get(report.host_id)
                analysis = self._analyze(report, snapshot, now)
                if isinstance(analysis, UpdateOutcome):
                    done[i] = analysis, None
                    continue
                assert snapshot is not None
                pending.append((i, report, Write(snapshot, analysis, lease.fence_token)))
            results = apply_analyses(uow, [w for _, _, w in pending], now, self._bus.names)
        if results is not None:
            committed_at = self._clock()
            for (i, report, w), written in zip(pending, results, strict=True):
                done[i] = self._settled(report, w.snapshot, w.analysis, written, committed_at)
        if self._recorder is not None and done:
            share = (self._recorder.sql_count() - sql) // len(done)
            for i, report, _ in ready:
                if i in done:
                    outcome = done[i][0]
                    self._recorder.update(report, started, outcome.committed_at, outcome.applied, outcome.events,
                                          share)
        return done

    def _measured(self, report: HostReport, lease: Lease) -> tuple[UpdateOutcome, _Committed | None]:
        if self._recorder is None:
            return self._apply(report, lease)
        started, sql = self._clock(), self._recorder.sql_count()
        outcome, committed = self._apply(report, lease)
        self._recorder.update(report, started, outcome.committed_at, outcome.applied, outcome.events,
                              self._recorder.sql_count() - sql)
        return outcome, committed

    def _apply(self, report: HostReport, lease: Lease) -> tuple[UpdateOutcome, _Committed | None]:
        reported = [vm.vm_id for vm in report.vms or ()]
        for _attempt in range(MAX_REDO):
            now = self._clock()
            with self._uow_factory() as uow:
                snapshot = uow.hosts.load_snapshot(report.host_id, reported)
                if snapshot is not None:
                    snapshot = with_devices(uow, {report.host_id: snapshot}, [report])[report.host_id]
                analyzed = self._analyze(report, snapshot, now)
                if isinstance(analyzed, UpdateOutcome):
                    return analyzed, None
                analysis = analyzed
                assert snapshot is not None
                written = apply_analysis(uow, snapshot, analysis, lease.fence_token, now, self._bus.names)
            if not written.conflict:
                break
        return self._settled(report, snapshot, analysis, written, self._clock())

    def _analyze(self, report: HostReport, snapshot: HostSnapshot | None, now: float) -> Analysis | UpdateOutcome:
        """The analysis to write, or the outcome of a report that cannot be applied."""
        if snapshot is None:
            return UpdateOutcome(report.host_id, False, "unknown host")
        analysis = analyze(snapshot, report, now, self._policy)
        if analysis.stale:
            return UpdateOutcome(report.host_id, False, STALE_REPORT, snapshot.state.status.name)
        return analysis

    @staticmethod
    def _settled(
        report: HostReport, snapshot: HostSnapshot, analysis: Analysis, written: ApplyResult, committed_at: float
    ) -> tuple[UpdateOutcome, _Committed | None]:
        if not written:
            reason = "VMs kept changing under this update" if written.conflict else (
                "lost the host's lock (fencing token refused)")
            return UpdateOutcome(report.host_id, False, reason), None
        status = (analysis.host or snapshot.state).status
        outcome = UpdateOutcome(
            report.host_id,
            True,
            None,
            status.name,
            tuple(e.describe() for e in analysis.events),
            len(analysis.commands),
            committed_at,
            analysis.events,
        )
        # A pushed event names some VMs only: the digest of the host's whole list stays as it was
        # (the next full poll settles it), so the host keeps its safety-net cadence.
        digest = KEEP_DIGEST if report.partial else report_digest(report)
        hashes = dict(report.device_hashes) if report.device_hashes is not None else None
        return outcome, _Committed(report.host_id, status, digest, written.events, hashes)

    def _publish(self, committed: Sequence[_Committed]) -> None:
        """After commit: refresh the hot-path cache, then hand the new outbox rows to the bus."""
        if not committed:
            return
        try:
            self._cache.record_many([(c.host_id, c.status, c.digest) for c in committed])
            self._cache.record_devices([(c.host_id, device_digest(c.device_hashes), c.device_hashes)
                                        for c in committed if c.device_hashes is not None])
        except Exception:  # the cache refills on the next poll
            log.warning("could not refresh the poll cache of %d hosts", len(committed), exc_info=True)
        events = [item for c in committed for item in c.events]
        if events:
            self._bus.deliver(events)


@dataclass(frozen=True)
class _Committed:
    host_id: str
    status: HostStatus
    digest: str | None
    events: tuple[tuple[int, Event], ...]
    device_hashes: dict[str, str] | None = None  # VM device hashes whose devices are now stored


def with_devices(uow: Any, snapshots: dict[str, HostSnapshot], reports: Sequence[HostReport]
                 ) -> dict[str, HostSnapshot]:
    """The snapshots with the stored devices of the VMs whose report carries devices: one query,
    and none at all in the common case (no device hash changed)."""
    wanted = {r.host_id: [vm.vm_id for vm in r.vms or () if vm.devices is not None] for r in reports}
    ids = sorted({vm_id for vm_ids in wanted.values() for vm_id in vm_ids})
    if not ids:
        return snapshots
    stored = uow.vms.devices_of(ids)
    out = dict(snapshots)
    for host_id, vm_ids in wanted.items():
        if vm_ids and host_id in out:
            out[host_id] = replace(out[host_id], devices={vm_id: stored.get(vm_id, ()) for vm_id in vm_ids})
    return out
