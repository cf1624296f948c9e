"""Engines and schema upgrades.

Engines are created on demand (`make_engine`), never at import: a connection pool
inherited across fork() would be shared by parent and child, and two processes
speaking on one socket corrupt each other's conversation. A process that forks
after creating an engine (Celery's prefork pool) calls `dispose_after_fork(engine)`
in the child, or registers it once with `register_fork_safety(engine)`.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
# Seconds to wait for PostgreSQL to accept a connection: without it a server that is
# down behind a silent network (packets dropped) blocks the caller for minutes.
PG_CONNECT_TIMEOUT = 5
# TCP keepalives: a connection to a server that vanished is noticed in ~1 minute.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **overrides: Any) -> Engine:
    """An engine tuned for the dialect of `url`; `overrides` go to create_engine."""
    parsed = sa.make_url(url)
    options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        options["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if in_memory:
            options["poolclass"] = StaticPool  # one shared connection, or each would see its own empty DB
        options.update(overrides)
        engine = sa.create_engine(parsed, **options)
        event.listen(engine, "connect", _sqlite_on_connect(in_memory))
        return engine
    options.update(pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_recycle=1800)
    # The URL's own query (?connect_timeout=...) wins over these defaults.
    defaults = {"connect_timeout": PG_CONNECT_TIMEOUT, **PG_KEEPALIVES}
    options["connect_args"] = {k: v for k, v in defaults.items() if k not in parsed.query}
    options.update(overrides)
    return sa.create_engine(parsed, **options)


def _sqlite_on_connect(in_memory: bool) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            if not in_memory:
                # WAL: readers never block the writer; NORMAL is crash-safe in WAL mode and
                # may lose only the last commits on power loss, which the next poll redoes.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def dispose_after_fork(engine: Engine) -> None:
    """Call in a forked child: forget the parent's pooled connections without closing them."""
    engine.dispose(close=False)


def register_fork_safety(engine: Engine) -> None:
    """Make every future fork() child drop the inherited pool of `engine` automatically."""
    ref = weakref.ref(engine)

    def child() -> None:
        live = ref()
        if live is not None:
            live.dispose(close=False)

    os.register_at_fork(after_in_child=child)


def alembic_config(url: str | None = None) -> Any:
    """An Alembic Config pointing at the packaged migrations (works from an installed package)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the schema at `url` to `revision`; running it again changes nothing."""
    from alembic import command

    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
    finally:
        if own:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database, None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
