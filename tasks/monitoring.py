"""The per-host tasks: fetch (I/O queue), update (update queue), refresh, commands, outbox,
and the engine's word on the runs and migrations it started (expect_operation)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from celery.signals import worker_process_init, worker_ready

from tasks import app
from tasks.serialization import NAME
from vurti.bootstrap import services
from vurti.domain.report import HostReport
from vurti.pipeline.update import LOCKED
from vurti.runtime.gc_tuning import tune_for_worker
from vurti.runtime.host_names import batch_label, label
from vurti.runtime.locking import LockBusy
from vurti.runtime.outage import DB_DOWN

T = TypeVar("T")
log = logging.getLogger(__name__)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Pools opened before the fork must not be shared with the parent."""
    services().reset()
    tune_for_worker()


@worker_ready.connect
def _tune_gc(**_: Any) -> None:
    """Solo and threads pools run the tasks in this very process."""
    tune_for_worker()


UPDATE_BATCH = 25  # reports per update_hosts message: bounded size, room for several update workers


def _send_updates(outcomes: list[Any]) -> None:
    """One update_host for a single report (the unit a person sees), else update_hosts per batch."""
    reports = [o.report for o in outcomes if o.report is not None]
    if not reports:
        return
    # Host names for Flower: one HMGET for hosts this process has not named yet.
    names = services().host_names.names([r.host_id for r in reports])
    if len(reports) == 1:
        update_host.apply_async(args=[reports[0]], argsrepr=repr([label(reports[0].host_id, names[0])]),
                                serializer=NAME)
        return
    for start in range(0, len(reports), UPDATE_BATCH):
        batch = reports[start : start + UPDATE_BATCH]
        update_hosts.apply_async(args=[batch], argsrepr=batch_label(names[start : start + UPDATE_BATCH]),
                                 serializer=NAME)


@app.task(name="vurti.fetch_host")
def fetch_host(host_id: str, due_at: float | None = None) -> None:
    """Poll one host; chain into update_host only if something needs writing."""
    _send_updates(services().fetch.fetch_many([(host_id, due_at)]))


@app.task(name="vurti.fetch_hosts")
def fetch_hosts(hosts: list[list[Any]]) -> None:
    """Poll a batch of [host id, scheduled time] concurrently (what beat sends at scale)."""
    _send_updates(services().fetch.fetch_many([(str(h), due) for h, due in hosts]))


def _parse(report: Any) -> HostReport | None:
    """A report as the serializer typed it, or its JSON form (other serializers, a batch with a bad report)."""
    if isinstance(report, HostReport):
        return report
    try:
        return HostReport.from_json(report)
    except msgspec.ValidationError as exc:
        log.error("dropping a malformed report message: %s", exc)
        return None


def _database_down(exc: BaseException, reports: int) -> None:
    """While the database does not answer, reports are dropped (the next polls bring their
    state again): one line per outage instead of a traceback per report."""
    services().update_outage.failed(exc)
    log.debug("dropped %d reports: the database does not answer", reports)


def _unless_database_down(run: Callable[[], T], otherwise: T) -> T:
    """A periodic sweep (beat sends the next one) while the database does not answer: skipped,
    counted in the same outage as the updates' (one line), not a traceback every 10 s."""
    try:
        result = run()
    except DB_DOWN as exc:
        services().update_outage.failed(exc)
        return otherwise
    services().update_outage.succeeded()
    return result


@app.task(name="vurti.update_host", bind=True)
def update_host(self: Any, report: HostReport | dict[str, Any]) -> None:
    parsed = _parse(report)
    if parsed is None:
        return
    try:
        # The message id owns the lock: a redelivery after a killed worker takes over its hold.
        outcome = services().update.update(parsed, owner=self.request.id)
    except LockBusy:
        log.info("host %s: update already running elsewhere, skipping this report", parsed.host_id)
        services().lock_contended(1)
        return
    except DB_DOWN as exc:
        _database_down(exc, 1)
        return
    services().update_outage.succeeded()
    if outcome.commands:
        send_commands.apply_async(args=[parsed.host_id])


@app.task(name="vurti.update_hosts", bind=True)
def update_hosts(self: Any, reports: list[HostReport | dict[str, Any]]) -> None:
    """Apply the reports of one fetch batch (what fetch_hosts sends at scale)."""
    if not isinstance(reports, list):
        log.error("dropping a malformed update_hosts message: a %s, not a list of reports", type(reports).__name__)
        return
    parsed = [p for p in map(_parse, reports) if p is not None]
    try:
        outcomes = services().update.update_many(parsed, owner=self.request.id)
    except DB_DOWN as exc:
        _database_down(exc, len(parsed))
        return
    services().update_outage.succeeded()
    services().lock_contended(sum(1 for o in outcomes if o.reason == LOCKED))
    if any(o.commands for o in outcomes):
        # One sender for the whole batch (it takes every due command): a sender per host
        # would mostly find its commands taken already, after waiting for the database.
        send_commands.apply_async()


@app.task(name="vurti.refresh_host", ignore_result=False)
def refresh_host(host: str) -> dict[str, Any]:
    """Fetch and update one host now (by name or id) and return what changed."""
    outcome = services().refresh(host)
    log.info("host %s refreshed on request: %s, %d changes", outcome.host_id,
             outcome.status if outcome.applied else f"not applied ({outcome.reason})", len(outcome.changes))
    return outcome.to_json()


@app.task(name="vurti.send_commands")
def send_commands(host_id: str | None = None) -> int:
    """Send pending host commands (VM.destroy), retried with backoff."""
    return _unless_database_down(lambda: services().commands.run_due(host_id), 0)


@app.task(name="vurti.drain_outbox")
def drain_outbox() -> int:
    """Deliver events a subscriber failed to take earlier."""
    return _unless_database_down(services().bus.drain, 0)


@app.task(name="vurti.purge")
def purge() -> dict[str, int]:
    """Delete rows past their retention (VURTI_RETAIN_*); hourly from beat."""
    purged = _unless_database_down(services().purge, None)
    if purged is None:
        return {}
    if any(vars(purged).values()):
        log.info("purged %s", purged)
    return dict(vars(purged))


@app.task(name="vurti.expect_operation", ignore_result=False)
def expect_operation(kind: str, vm: str, host: str | None = None, to: str | None = None,
                     timeout: float | None = None) -> dict[str, Any]:
    """The engine started a run of `vm` on `host`, or a migration of `vm` (to `to`): the monitor
    confirms it or asks for a rerun. A request that cannot be taken is answered, not raised."""
    from vurti.operations import OperationError

    try:
        expected = services().operations.expect(kind, vm, host, to, timeout)
    except OperationError as exc:
        log.warning("expected %s of VM %s refused: %s", kind, vm, exc)
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **expected.to_json()}
