"""A real redis-server on a free loopback port, without persistence."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.procs import free_port, stop, wait_for


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield a redis:// URL; the server is stopped on exit."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (the README's test command installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        wait_for(client.ping, what="redis-server")
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
