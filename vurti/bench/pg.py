"""A throwaway PostgreSQL server for a benchmark run, as a child of the LocalStack.

initdb refuses to run as root, so as root the cluster is created and run as the
`postgres` system user. Durability is off (fsync, synchronous_commit), as in the
tests: the benchmark measures vurti's work, not the disk.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from vurti.stack import Child, LocalStack, free_port, wait_until


def _bindir() -> Path:
    found = shutil.which("pg_ctl") or shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return candidates[-1]


def start_postgres(stack: LocalStack) -> tuple[str, Child, Path]:
    """Start a server; return its SQLAlchemy URL, the child and its data directory (remove after close)."""
    bindir = _bindir()
    ids = None
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        ids = (pw.pw_uid, pw.pw_gid)
    tmp = Path(tempfile.mkdtemp(prefix="vurti-bench-pg-"))
    if ids:
        os.chown(tmp, *ids)

    def demote() -> None:
        if ids:
            os.setgid(ids[1])
            os.setuid(ids[0])

    subprocess.run(
        [str(bindir / "initdb"), "-D", str(tmp / "data"), "-U", "vurti", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=demote,
    )
    port = free_port()
    log_path = stack.workdir / "postgres.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(tmp / "data"), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={tmp}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=demote, start_new_session=True,
        )
    child = Child("postgres", proc, log_path)
    stack.children.append(child)
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

    wait_until(ready, 60, "postgres")
    return url, child, tmp
