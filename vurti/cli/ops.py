"""`vurti refresh`, `vurti events [--follow]`, `vurti db upgrade`."""

from __future__ import annotations

import sys
import time
from typing import cast

import click
import orjson
import redis

from vurti.cli.common import CliError, emit, get_services, host_id_option
from vurti.runtime import keys

_Streams = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


@click.command("refresh")
@click.argument("host")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def refresh(host: str, as_json: bool) -> None:
    """Fetch and update HOST (name or id) now, and print what changed."""
    outcome = get_services().refresh(host)
    if as_json:
        sys.stdout.write(orjson.dumps(outcome.to_json()).decode() + "\n")
        return
    if not outcome.applied:
        raise CliError(f"{host}: {outcome.reason}")
    click.echo(f"{host}: {outcome.status}")
    for line in outcome.changes:
        click.echo(f"  {line}")
    if not outcome.changes:
        click.echo("  no changes")


@click.command("events")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events from the live feed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--host", default=None, help="Only events of this host (name or id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def events(follow: bool, limit: int, host: str | None, as_json: bool) -> None:
    """The audit log (newest last), and with --follow the live feed."""
    svc = get_services()
    host_id = host_id_option(svc, host)
    with svc.uow() as uow:
        rows = uow.audit.recent(limit, host_id)
    lines = [
        {"id": e.id, "at": e.at, "severity": e.severity, "host_id": e.host_id, "vm_id": e.vm_id,
         "type": e.event_type, "message": e.message}
        for e in sorted(rows, key=lambda e: e.id)
    ]
    if as_json and not follow:
        emit(lines, [], True)
        return
    for line in lines:
        _print(line, as_json)
    if follow:
        _follow(svc.redis, host_id, as_json)


def _print(row: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(row, default=str).decode())
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(str(row["at"]))))
        click.echo(f"{when}  {str(row['severity']).upper():7} {row['message']}")


def _follow(client: redis.Redis, host_id: str | None, as_json: bool) -> None:
    last: str | bytes = "$"
    try:
        while True:
            # redis-py types XREAD's reply as a str or int or list; it is (stream, entries) pairs
            reply = cast("_Streams", client.xread({keys.EVENTS_STREAM: last}, block=1000, count=100) or [])
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    last = entry_id
                    data = {k.decode(): v.decode() for k, v in fields.items()}
                    if host_id is not None and data.get("host_id") != host_id:
                        continue
                    _print(
                        {"id": data["outbox_id"], "at": data["at"], "severity": data["severity"],
                         "message": data["message"], "type": data["type"], "host_id": data["host_id"]},
                        as_json,
                    )
    except KeyboardInterrupt:
        pass


@click.group("db")
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version (Alembic)."""
    from vurti.config import redact_url
    from vurti.store.db import upgrade

    svc = get_services()
    upgrade(svc.settings.database_url)
    click.echo(f"database at {redact_url(svc.settings.database_url)} is up to date")


@db.command("retry-parked")
@click.option("--subscriber", default=None, help="Only the events parked for this subscriber (audit, live).")
def db_retry_parked(subscriber: str | None) -> None:
    """Retry events a subscriber kept failing on (parked after 8 attempts, see the worker log)."""
    count = get_services().bus.retry_parked(subscriber)
    click.echo(f"{count} parked deliveries will be retried by the next drain")
