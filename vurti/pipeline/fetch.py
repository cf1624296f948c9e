"""Poll hosts and decide which reports need the update path.

A steady-state cycle costs one cheap agent call (the short VM list) and, per
batch of hosts, two Redis round trips: if the host is Up, no statistics are due
and the VM digest equals the one last committed (or one already queued), the
report stops here. Otherwise a changed short list is re-polled in full, whatever
the host's status (exit codes and reasons are only in the full form), and the
report goes on to the update task. The hosts of a batch are polled concurrently by the poller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Final, Protocol

import msgspec

from vurti.agent import PollPlan, PollRequest, device_digest, plan_poll, report_digest, vm_digest, vm_hashes
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
    answered: bool = False  # the host answered this poll (its first round)


class HolderView(Protocol):
    """The process's Holder (vurti.pipeline.holder), when it holds connections for the fleet."""

    def polled(self, host_id: str, url: str) -> None: ...

    def pushed(self, host_id: str) -> bool: ...

    def capabilities_due(self, host_id: str) -> bool: ...


class Poller(Protocol):
    """BatchPoller (vurti.agent.aio): the hosts polled concurrently over their links."""

    def poll_many(self, requests: Sequence[PollRequest]) -> list[HostReport]: ...


class FetchService:
    def __init__(
        self,
        poller: Poller,
        cache: HostCache,
        policy: MonitoringPolicy,
        url_of: Callable[[str], str | None],
        clock: Callable[[], float],
        guard_ttl: float,
        pending_window: float = 30.0,
        recorder: Any = None,
        holder: HolderView | None = None,
    ) -> None:
        self._poller = poller
        self._cache = cache
        self._policy = policy
        self._url_of = url_of
        self._clock = clock
        self._guard_ttl = guard_ttl  # a fetch mark outlives a crashed fetcher by this much at most
        # A digest sent to the update queue is not sent again for this long (the update lock's
        # TTL: an update not committed by then is lost), unless statistics are due: a slow
        # update queue must not be flooded with copies of the same change.
        self._pending_window = pending_window
        self._recorder = recorder  # benchmark instrumentation (vurti.bench.recorder), None in production
        self._holder = holder

    def fetch_many(self, hosts: Sequence[tuple[str, float | None]], force: bool = False) -> list[FetchOutcome]:
        """Poll the hosts (id, scheduled time) concurrently; never raises for agent trouble.

        Two rounds at most: every host by its plan, then, in full, the hosts whose short
        VM list changed (exit codes and pause reasons are only in the full form).
        """
        if not hosts:
            return []
        started = self._clock()
        token = self._cache.new_token()
        cached = self._cache.begin_cycles([h for h, _ in hosts], token, self._guard_ttl)
        outcomes: list[FetchOutcome] = []
        try:
            outcomes = self._fetch(cached, [due for _, due in hosts], started, force)
        finally:
            held = [c.host_id for c in cached if not c.busy]
            pending = [(o.host_id, o.digest, o.started_at) for o in outcomes if o.digest]
            answered = [(o.host_id, o.started_at) for o in outcomes if o.answered]
            self._cache.end_cycles(held, token, pending, answered)
        if self._recorder is not None:
            self._recorder.polls(outcomes)
        return outcomes

    def _fetch(
        self, cached: list[CachedHost], due: list[float | None], now: float, force: bool
    ) -> list[FetchOutcome]:
        reports: dict[str, HostReport | None] = {}
        first: list[PollRequest] = []
        for host in cached:
            if host.busy:
                log.info("host %s: previous fetch still running, skipping this one", host.label)
                continue
            url = host.url or self._url_of(host.host_id)
            if url is None:
                error = FetchError(FetchErrorKind.UNREACHABLE, "host has no agent URL (removed?)")
                reports[host.host_id] = HostReport(host.host_id, now, error=error)
                continue
            if host.url is None:
                self._cache.put_host(host.host_id, url)
            if self._holder is not None:
                self._holder.polled(host.host_id, url)
            plan = self._plan(host, force)
            if plan.idle:
                continue  # an installer or an administrator owns the host (Down, Installing, ...)
            unchanged_if = self._unchanged_if(host, plan, now) if not force else ()
            first.append(PollRequest.from_plan(host.host_id, url, plan, now=now, unchanged_if=unchanged_if))
        by_id = {h.host_id: h for h in cached}
        again: list[PollRequest] = []
        short: dict[str, HostReport] = {}
        answered: set[str] = set()
        for request, report in zip(first, self._poll(first, now), strict=True):
            if report.ok:
                answered.add(request.host_id)
            decision = self._decide(by_id[request.host_id], request, report, now, force)
            if decision is _AGAIN_IN_FULL:
                short[request.host_id] = report
                again.append(replace(request, capabilities=False, host_stats=False, full_vms=True, stats_due=False))
            else:
                reports[request.host_id] = decision
        for request, report in zip(again, self._poll(again, now), strict=True):
            reports[request.host_id] = _with_vms_of(short[request.host_id], report)
        self._read_devices(by_id, reports, {r.host_id: r.url for r in first}, now)
        return [self._outcome(host, d, now, reports, answered) for host, d in zip(cached, due, strict=True)]

    def _read_devices(
        self, by_id: dict[str, CachedHost], reports: dict[str, HostReport | None], urls: dict[str, str], now: float
    ) -> None:
        """oVirt's VmDevicesMonitoring: the devices of the VMs whose device `hash` changed, read
        for those VMs only (Host.dumpxmls; Host.getVMFullList on VDSM 4.30: steps.device_steps),
        in this same fetch, into their reports.

        A host's device hashes are compared as one digest with the one cached, so a fleet whose
        hashes do not change costs no call and no Redis read; the per-VM hashes are read only
        for hosts whose digest differs. The report then carries the hashes whose devices are
        known (`device_hashes`), cached once the update commits; a VM whose devices could not
        be read keeps its old hash there, so the next full poll asks again.
        """
        seen: dict[str, dict[str, str]] = {}
        for host_id, report in reports.items():
            if report is None or not report.ok or not report.vms_full or report.vms is None or report.partial:
                continue
            hashes = vm_hashes(report.vms)
            if device_digest(hashes) != by_id[host_id].devices:
                seen[host_id] = hashes
        if not seen:
            return
        stored = self._cache.device_hashes(list(seen))
        requests = []
        changed: dict[str, set[str]] = {}
        for host_id, hashes in seen.items():
            before = stored.get(host_id, {})
            changed[host_id] = {vm_id for vm_id, h in hashes.items() if before.get(vm_id) != h}
            if changed[host_id]:
                requests.append(PollRequest(host_id, urls[host_id], now, vms=False,
                                            devices_of=tuple(sorted(changed[host_id]))))
        read = {r.host_id: got for r, got in zip(requests, self._poll(requests, now), strict=True)}
        for host_id, hashes in seen.items():
            report = reports[host_id]
            assert report is not None and report.vms is not None
            got = read.get(host_id)
            devices = {vm.vm_id: vm.devices for vm in got.vms or () if vm.devices is not None} if got else {}
            # Answered: settled, even for a VM whose row had no devices (asking again would not help);
            # a call that failed leaves the VMs it did not read for the next full poll.
            failed = changed[host_id] - devices.keys() if got is not None and not got.ok else set()
            before = stored.get(host_id, {})
            settled = {vm_id: h for vm_id, h in hashes.items() if vm_id not in failed}
            settled.update({vm_id: before[vm_id] for vm_id in failed if vm_id in before})
            vms = tuple(msgspec.structs.replace(vm, devices=devices[vm.vm_id]) if vm.vm_id in devices else vm
                        for vm in report.vms)
            extra = got.warnings + ((f"devices not read: {got.error.message}",) if got.error else ()) if got else ()
            reports[host_id] = msgspec.structs.replace(report, vms=vms, device_hashes=tuple(sorted(settled.items())),
                                                       warnings=report.warnings + extra)

    def _plan(self, host: CachedHost, force: bool) -> PollPlan:
        every = self._policy.stats_every
        status = host.status if host.status is not None else HostStatus.Unassigned
        if force:  # a manual refresh: everything the host can tell
            return PollPlan(capabilities=True, host_stats=True, full_vms=True, stats_due=True)
        # Each host takes its statistics cycles at its own offset, so a fleet's statistics
        # writes spread over the N cycles instead of landing in one.
        cycle = host.cycle + int(phase(host.host_id, every))
        if self._holder is not None and self._holder.pushed(host.host_id):
            cycle = 0  # events carry the changes: every poll is the safety net, in full (oVirt 4.x)
        plan = plan_poll(status, cycle, every)
        if self._holder is not None and not plan.capabilities and self._holder.capabilities_due(host.host_id):
            # VDSM hinted that its capabilities changed (|net|host_conn|): read them with this poll.
            plan = replace(plan, capabilities=True, host_stats=True)
        return plan

    def _poll(self, requests: list[PollRequest], now: float) -> list[HostReport]:
        if not requests:
            return []
        try:
            return self._poller.poll_many(requests)
        except Exception as exc:  # a bug in one batch must not kill the worker
            log.exception("polling a batch of %d hosts failed unexpectedly", len(requests))
            error = FetchError(FetchErrorKind.INVALID_DATA, f"internal error while fetching: {exc!r}")
            return [HostReport(r.host_id, now, error=error) for r in requests]

    def _unchanged_if(self, host: CachedHost, plan: PollPlan, now: float) -> tuple[str, ...]:
        """The VM digests at which this poll stops at the fetch (see _decide): the poller then
        compares the short list's digest without parsing it."""
        if plan.capabilities or plan.stats_due or plan.full_vms or host.status is not HostStatus.Up:
            return ()
        return tuple(d for d in (host.digest, self._pending(host, now)) if d is not None)

    def _pending(self, host: CachedHost, now: float) -> str | None:
        """A digest already on its way to the update queue (and not yet presumed lost)."""
        if host.pending is not None and host.pending_at is not None and now - host.pending_at < self._pending_window:
            return host.pending
        return None

    def _decide(
        self, host: CachedHost, request: PollRequest, report: HostReport, now: float, force: bool
    ) -> HostReport | _Again | None:
        """The report to send on, None (nothing changed), or _AGAIN_IN_FULL.

        A short list that differs from the state committed is read again in full
        whatever the host's status: a Down VM's exit code, reason and message, a pause
        code and the qemu monitor are only in the full form, and the record is gone
        once the VM is destroyed.
        """
        if force or not report.ok:
            return report
        if report.vms_unchanged:
            return None  # the poller found the short list's digest among request.unchanged_if
        up = host.status is HostStatus.Up
        # An Up host's change already queued counts as known; other hosts' reports all go on,
        # so only what is committed does.
        known = (host.digest, self._pending(host, now)) if up else (host.digest,)
        changed = report.vms is not None and vm_digest(report.vms) not in known
        if changed and not request.full_vms:
            return _AGAIN_IN_FULL
        if request.stats_due or request.capabilities or not up:
            return report
        return report if changed else None

    @staticmethod
    def _outcome(
        host: CachedHost,
        due_at: float | None,
        started: float,
        reports: dict[str, HostReport | None],
        answered: set[str],
    ) -> FetchOutcome:
        if host.busy:
            return FetchOutcome(host.host_id, None, "running", due_at, started)
        ok = host.host_id in answered
        report = reports.get(host.host_id)
        if report is None:
            return FetchOutcome(host.host_id, None, None, due_at, started, answered=ok)  # polled, nothing to write
        if not report.ok and host.answered_at is not None:
            # The grace period counts from the last answered poll, which may never have reached the DB.
            report = msgspec.structs.replace(report, last_answered_at=host.answered_at)
        digest = report_digest(report)
        return FetchOutcome(host.host_id, report, None, due_at, started, digest, answered=ok)


class _Again(Enum):
    """`_decide`'s answer for a short VM list to read again in full."""

    IN_FULL = "in full"


_AGAIN_IN_FULL: Final = _Again.IN_FULL


def _with_vms_of(short: HostReport, full: HostReport) -> HostReport:
    """The first round's host data (capabilities, statistics) with the second round's VMs."""
    if short.capabilities is None and short.stats is None:
        return full
    return msgspec.structs.replace(full, capabilities=short.capabilities, stats=short.stats, stats_due=short.stats_due,
                                   warnings=short.warnings + full.warnings)
