"""`vurti doctor`: one line per check, OK or what to do; exit 1 when anything failed."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson

INSPECT_TIMEOUT = 2.0  # seconds the workers have to answer the broadcast


@dataclass(frozen=True)
class Parts:
    """The deployment's parts the checks look at, built from the settings."""

    redis: Any
    engine: Any
    head: str | None
    settings: Any

    def current_revision(self, engine: Any) -> str | None:
        from vurti.store.db import current_revision

        database = engine.url.database
        on_disk = engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        if on_disk and not Path(database).exists():  # connecting would create an empty file
            raise FileNotFoundError(database)

        return current_revision(engine)

    def active_queues(self) -> dict[str, list[str]] | None:
        from celery import Celery

        app = Celery("vurti-doctor", broker=self.settings.redis_url, set_as_current=False)
        try:
            replies = app.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
        finally:
            app.close()
        return {worker: [q["name"] for q in queues] for worker, queues in replies.items()}

    def fleet_state(self) -> Any:
        from vurti.metrics.fleet_state import read_fleet

        return read_fleet(self.engine, self.redis, time.time(), self.settings.policy.refresh_interval)


def connect(settings: Any) -> Parts:
    import redis
    from alembic.script import ScriptDirectory

    from vurti.store.db import alembic_config, make_engine

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
    return Parts(client, make_engine(settings.database_url), head, settings)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {name, level, message} for scripts.")
@click.option("--check", "only", multiple=True, metavar="NAME",
              help="Report (and exit on) only these checks, e.g. --check beat in a container's health check.")
def doctor(as_json: bool, only: tuple[str, ...]) -> None:
    """Check configuration, Redis, the database, workers, beat, queues, hosts, certificates and backlogs."""
    from vurti.doctor import run_all

    checks = run_all(os.environ, connect)
    if only:
        checks = [c for c in checks if c.name in only or c.name == "configuration"]
    if as_json:
        sys.stdout.write(orjson.dumps([c.to_json() for c in checks], option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for check in checks:
            click.echo(check.line())
    sys.exit(1 if any(c.failed for c in checks) else 0)
