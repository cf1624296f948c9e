"""A real PostgreSQL server in a temporary directory, on a free loopback port.

initdb refuses to run as root, so when the tests run as root the cluster is
created and run as the `postgres` system user (made by Debian's package).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.procs import free_port, port_open, stop, wait_for


def _bindir() -> Path:
    found = shutil.which("pg_ctl") or shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (the README's test command installs it)")
    return candidates[-1]


def _demote() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL (psycopg 3) of a fresh database; the server is stopped on exit."""
    bindir = _bindir()
    ids = _demote()
    tmp = Path(tempfile.mkdtemp(prefix="vurti-pg-"))
    data = tmp / "data"
    if ids:
        os.chown(tmp, *ids)

    def preexec() -> None:
        if ids:
            os.setgid(ids[1])
            os.setuid(ids[0])

    port = free_port()
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "vurti", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )
    proc = subprocess.Popen(
        [
            str(bindir / "postgres"),
            "-D", str(data),
            "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={tmp}",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,
    )
    try:
        wait_for(lambda: port_open(port), what="postgres port")
        url = f"postgresql+psycopg://vurti@127.0.0.1:{port}/postgres"

        def ready() -> bool:
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("select 1"))
                return True
            finally:
                engine.dispose()

        wait_for(ready, what="postgres accepting connections")
        yield url
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
