"""The per-host tasks: fetch (I/O queue), update (update queue), refresh, commands, outbox."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from celery.signals import worker_process_init

from tasks import app
from vurti.bootstrap import services
from vurti.domain.report import HostReport
from vurti.runtime.locking import LockBusy

log = logging.getLogger(__name__)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Pools opened before the fork must not be shared with the parent."""
    services().reset()


def _send_updates(outcomes: list[Any]) -> None:
    for outcome in outcomes:
        if outcome.report is not None:
            update_host.apply_async(args=[outcome.report.to_json()], argsrepr=repr(outcome.host_id))


@app.task(name="vurti.fetch_host")
def fetch_host(host_id: str, due_at: float | None = None) -> None:
    """Poll one host; chain into update_host only if something needs writing."""
    _send_updates(services().fetch.fetch_many([(host_id, due_at)]))


@app.task(name="vurti.fetch_hosts")
def fetch_hosts(hosts: list[list[Any]]) -> None:
    """Poll a batch of [host id, scheduled time] concurrently (what beat sends at scale)."""
    _send_updates(services().fetch.fetch_many([(str(h), due) for h, due in hosts]))


@app.task(name="vurti.update_host")
def update_host(report: dict[str, Any]) -> None:
    try:
        parsed = HostReport.from_json(report)
    except msgspec.ValidationError as exc:
        log.error("dropping a malformed report message: %s", exc)
        return
    try:
        outcome = services().update.update(parsed)
    except LockBusy:
        log.info("host %s: update already running elsewhere, skipping this report", parsed.host_id)
        return
    if outcome.commands:
        send_commands.apply_async(args=[parsed.host_id])


@app.task(name="vurti.refresh_host", ignore_result=False)
def refresh_host(host: str) -> dict[str, Any]:
    """Fetch and update one host now (by name or id) and return what changed."""
    return services().refresh(host).to_json()


@app.task(name="vurti.send_commands")
def send_commands(host_id: str | None = None) -> int:
    """Send pending host commands (VM.destroy), retried with backoff."""
    return services().commands.run_due(host_id)


@app.task(name="vurti.drain_outbox")
def drain_outbox() -> int:
    """Deliver events a subscriber failed to take earlier."""
    return services().bus.drain()
