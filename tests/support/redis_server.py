"""A real redis-server on a free loopback port, without persistence."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.support.procs import free_port, stop, wait_for


class RedisServer:
    """A redis-server process that a test can restart on the same port (and so lose every key)."""

    def __init__(self, extra_args: Sequence[str] = (), password: str | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (the README's test command installs it)")
        self.exe = exe
        self.port = free_port()
        self.password = password
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", *self.extra_args]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
        try:
            wait_for(client.ping, what="redis-server")
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again: without persistence the new server starts empty."""
        self.stop()
        self.start()


@contextmanager
def redis_server(extra_args: Sequence[str] = (), password: str | None = None) -> Iterator[str]:
    """Yield a redis:// URL; the server is stopped on exit."""
    server = RedisServer(extra_args, password)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
