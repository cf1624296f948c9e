"""A real PostgreSQL server for the test run, started by the same code as `vurti bench` uses."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vurti.stack import LocalStack


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL (psycopg 3) of a fresh server on loopback; it is stopped on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="vurti-test-pg-"))
    try:
        with LocalStack(workdir) as stack:
            yield stack.start_postgres()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
