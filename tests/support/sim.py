"""Start `vurti sim` as a real process on a free loopback port; stop it on exit."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.procs import free_port, stop, wait_for
from vurti.sim.control_client import ControlClient


@dataclass
class SimProcess:
    """A running simulator: where it listens, how to drive it, and its process."""

    base_url: str
    host_names: list[str]
    control: ControlClient
    proc: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float
    session: requests.Session = field(default_factory=requests.Session)

    def host_url(self, name: str) -> str:
        return f"{self.base_url}hosts/{name}/"

    @property
    def host_urls(self) -> list[str]:
        return [self.host_url(n) for n in self.host_names]

    def rpc(self, host: str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        """The whole JSON-RPC reply (a dict with `result` or `error`)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        return self.session.post(self.host_url(host), json=body, timeout=timeout).json()

    def result(self, host: str, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.rpc(host, method, params)
        if "error" in reply:
            raise AssertionError(f"{host} {method}: {reply['error']}")
        return reply["result"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """Resident set size of the simulator process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the simulator process, from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_sim(hosts: int = 4, vms_per_host: int = 5, seed: int = 1, churn: float = 0.0, clusters: int = 1,
                tick_seconds: float = 0.0, push_url: str | None = None, token: str | None = None,
                extra_args: tuple[str, ...] = (), timeout: float = 60.0) -> Iterator[SimProcess]:
    """Yield a SimProcess; by default ticks only advance through `control.tick()` (deterministic tests)."""
    port = free_port()
    args = [sys.executable, "-m", "vurti.sim", "--hosts", str(hosts), "--vms-per-host", str(vms_per_host),
            "--seed", str(seed), "--port", str(port), "--bind", "127.0.0.1", "--churn", str(churn),
            "--clusters", str(clusters), "--tick-seconds", str(tick_seconds), *extra_args]
    if push_url:
        args += ["--push-url", push_url]
    if token:
        args += ["--control-token", token]
    log = tempfile.NamedTemporaryFile(prefix="vurti-sim-", suffix=".log", delete=False)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}/"
    control = ControlClient(base, token=token, timeout=30.0)
    sim = SimProcess(base, [f"host-{i + 1:04d}" for i in range(hosts)], control, proc, Path(log.name), 0.0)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"vurti sim exited with {proc.returncode}: {sim.log()}")
            return "listening on" in sim.log() and bool(control.health()["ok"])

        wait_for(up, timeout=timeout, interval=0.05, what="vurti sim to listen")
        sim.startup_seconds = time.monotonic() - started
        yield sim
    finally:
        stop(proc)
        sim.session.close()
        control.session.close()
        log.close()
        os.unlink(log.name)
