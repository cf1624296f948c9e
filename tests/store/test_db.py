"""Engine settings per dialect, and fork safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from vurti.store import make_engine, register_fork_safety


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        engine.dispose()


def test_in_memory_sqlite_shares_one_database() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    engine.dispose()


def test_postgres_engine_pings_before_use(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_does_not_reuse_the_parents_connections(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    register_fork_safety(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("select 1")
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what the inherited pool holds, then use the engine
        try:
            held = engine.pool.checkedin()  # type: ignore[attr-defined]
            with engine.connect() as conn:
                ok = conn.exec_driver_sql("select 1").scalar() == 1
            os.write(write, f"{held} {ok}".encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    assert answer == "0 True"
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]  # the parent's pool is intact
    engine.dispose()


def test_postgres_connect_gives_up_on_a_server_that_never_answers() -> None:
    """A listening socket that never speaks: the connect must fail at the timeout, not hang."""
    import socket
    import threading

    from vurti.store.db import PG_CONNECT_TIMEOUT

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://vurti@127.0.0.1:{port}/vurti")
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            engine.connect().close()
        except BaseException as exc:  # noqa: BLE001 - the outcome under test
            outcome.append(exc)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout=PG_CONNECT_TIMEOUT * 3 + 5)  # psycopg may try each address the name resolves to
    try:
        assert not worker.is_alive(), "connecting to a silent server hangs"
        assert outcome and isinstance(outcome[0], sa.exc.OperationalError)
    finally:
        silent.close()
        engine.dispose()
