"""A real redis-server on a free loopback port, without persistence."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.support.procs import free_port, stop, wait_for


class RedisServer:
    """A redis-server process that a test can restart on the same port (and so lose every key)."""

    def __init__(self, extra_args: Sequence[str] = (), password: str | None = None,
                 tls: tuple[str, str, str] | None = None) -> None:
        """`tls`: (CA file, server certificate, server key): serve TLS only (rediss://)."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (the README's test command installs it)")
        self.exe = exe
        self.port = free_port()
        self.password = password
        self.extra_args = list(extra_args)
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        ports = ["--port", str(self.port)]
        if self.tls:
            ca, cert, key = self.tls
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert, "--tls-key-file", key,
                     "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        args = [self.exe, "--bind", "127.0.0.1", *ports, "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", *self.extra_args]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        tls = {"ssl": True, "ssl_ca_certs": self.tls[0], "ssl_cert_reqs": "required"} if self.tls else {}
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **tls)
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
