"""Start `vurti sim` as a real process on a free loopback port; stop it on exit.

Its agents listen on their own loopback addresses with a free port each
(`--agent-port 0`), so simulators started side by side never collide; the
addresses come from the control API. `rpc` calls a host over STOMP, through one
`StompPeer` per host kept open for the whole run.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, stop, wait_for
from tests.support.stomp_peer import StompPeer
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
    tls_dir: Path | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    peers: dict[str, StompPeer] = field(default_factory=dict)

    def address(self, name: str) -> str:
        """The host's agent address, `stomp://127.1.0.1:PORT` (`stomps://` with TLS)."""
        if not self.addresses:
            self.addresses = {h["name"]: h["address"] for h in self.control.hosts()}
        return self.addresses[name]

    def host_url(self, name: str) -> str:
        """The same as `address` (the name is from when hosts answered JSON-RPC over HTTP)."""
        return self.address(name)

    @property
    def host_addresses(self) -> list[str]:
        return [self.address(n) for n in self.host_names]

    def tls_context(self) -> ssl.SSLContext | None:
        """The engine's TLS context (engine certificate, the chain checked, no host name check)."""
        if self.tls_dir is None:
            return None
        from vurti.sim.pki import client_context, paths

        return client_context(paths(self.tls_dir))

    def peer(self, name: str, heart_beat: str = "0,0", events: bool = False, timeout: float = 10.0) -> StompPeer:
        """A new connected STOMP peer of one host (the caller closes it)."""
        peer = StompPeer(self.address(name), self.tls_context(), timeout=timeout)
        try:
            peer.connect(heart_beat, events=events)
        except BaseException:
            peer.close()
            raise
        return peer

    def rpc(self, host: str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        """The whole JSON-RPC reply (a dict with `result` or `error`), over the host's shared peer."""
        peer = self.peers.get(host)
        if peer is None:
            peer = self.peers[host] = self.peer(host)
        try:
            return peer.call(method, params, timeout)
        except BaseException:
            self.peers.pop(host, None)  # the connection is in an unknown state: the next call opens another
            peer.close()
            raise

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
                tick_seconds: float = 0.0, tls_dir: Path | None = None, token: str | None = None,
                extra_args: tuple[str, ...] = (), timeout: float = 60.0) -> Iterator[SimProcess]:
    """Yield a SimProcess; by default ticks only advance through `control.tick()` (deterministic tests)."""
    port = free_port()
    args = [sys.executable, "-m", "vurti.sim", "--hosts", str(hosts), "--vms-per-host", str(vms_per_host),
            "--seed", str(seed), "--port", str(port), "--bind", "127.0.0.1", "--churn", str(churn),
            "--clusters", str(clusters), "--tick-seconds", str(tick_seconds), "--agent-port", "0", *extra_args]
    if tls_dir is not None:
        args += ["--tls-dir", str(tls_dir)]
    if token:
        args += ["--control-token", token]
    log = tempfile.NamedTemporaryFile(prefix="vurti-sim-", suffix=".log", delete=False)  # noqa: SIM115 - closed in finally
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}/"
    control = ControlClient(base, token=token, timeout=30.0)
    sim = SimProcess(base, [f"host-{i + 1:04d}" for i in range(hosts)], control, proc, Path(log.name), 0.0, tls_dir)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"vurti sim exited with {proc.returncode}: {sim.log()}")
            return "listening on" in sim.log() and bool(control.health()["ok"])

        wait_for(up, timeout=timeout, interval=0.05, what="vurti sim to listen")
        sim.startup_seconds = time.monotonic() - started
        yield sim
    finally:
        for peer in sim.peers.values():
            peer.close()
        stop(proc)
        control.session.close()
        log.close()
        os.unlink(log.name)
