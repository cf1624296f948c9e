"""Polls per second and client CPU per poll: requests in threads vs BatchPoller on asyncio.

Starts `python -m vurti.sim` (default 200 hosts x 20 VMs, no churn) on a free
loopback port, then polls its hosts round robin for `--seconds` each way:

- `requests`: one AgentClient (one pooled requests.Session) shared by `--threads`
  threads, each running HostPoller.poll one host after another;
- `batch xN`: BatchPoller.poll_many with batches of `--batch` hosts, from N
  caller threads at once (Celery's threads pool calls it from several).

It reports polls/s, the benchmark process's CPU seconds (time.process_time) per
1,000 polls, and the simulator's CPU per 1,000 polls for scale; both run on the
same cores, so polls/s is bounded by the pair, CPU per poll is the client's cost.
Every host is served from one host:port, so both clients reuse keep-alive
connections fully.

    .venv/bin/python benchmarks/agent_clients.py [--hosts 200] [--seconds 10] [--full]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vurti.agent import AgentClient, HostPoller, PollRequest, make_session
from vurti.agent.aio import BatchPoller
from vurti.bench.procs import cpu_seconds
from vurti.config import AgentSettings
from vurti.domain.report import HostReport
from vurti.stack import free_port


class Simulator:
    """`python -m vurti.sim` on 127.0.0.1; stopped on exit."""

    def __init__(self, hosts: int, vms_per_host: int) -> None:
        self.port = free_port()
        self.hosts = hosts
        self.log = tempfile.NamedTemporaryFile(prefix="vurti-sim-", suffix=".log", delete=False)  # noqa: SIM115
        argv = [sys.executable, "-m", "vurti.sim", "--hosts", str(hosts), "--vms-per-host", str(vms_per_host),
                "--port", str(self.port), "--bind", "127.0.0.1", "--churn", "0"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.urls = [f"http://127.0.0.1:{self.port}/hosts/host-{i + 1:04d}/" for i in range(hosts)]

    def __enter__(self) -> Self:
        deadline = time.monotonic() + 120
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "Host.getVMList", "params": {}}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vurti sim exited: {Path(self.log.name).read_text(errors='replace')}")
            try:
                if "result" in requests.post(self.urls[-1], json=body, timeout=2).json():
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        self.__exit__()
        raise TimeoutError("vurti sim did not answer within 120 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        os.unlink(self.log.name)


@dataclass
class Result:
    name: str
    polls: int
    errors: int
    wall: float
    cpu: float
    sim_cpu: float

    def line(self) -> str:
        per_k = 1000 / max(self.polls, 1)
        return (f"{self.name:<22} {self.polls / self.wall:8.0f} polls/s   client CPU {self.cpu * per_k:6.3f} s/1000 polls"
                f"   sim CPU {self.sim_cpu * per_k:6.3f} s/1000 polls   errors {self.errors}")


COUNTS = [0, 0]  # polls, errors: counted by the worker threads of the running measurement
_COUNT_LOCK = threading.Lock()


def _count(reports: list[HostReport]) -> None:
    errors = sum(1 for report in reports if report.error is not None)
    with _COUNT_LOCK:
        COUNTS[0] += len(reports)
        COUNTS[1] += errors


def _counts() -> tuple[int, int]:
    with _COUNT_LOCK:
        return COUNTS[0], COUNTS[1]


def measure(name: str, workers: int, work: Callable[[Callable[[], bool]], None], seconds: float,
            sim: Simulator) -> Result:
    """Run `work(keep_going)` in `workers` threads: one warm-up second, then `seconds` measured."""
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(lambda: not stop.is_set(),), daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # warm-up: connections, caches
    polls, errors = _counts()
    cpu, wall, sim_cpu = time.process_time(), time.perf_counter(), cpu_seconds(sim.proc.pid)
    time.sleep(seconds)
    polls_end, errors_end = _counts()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sim_cpu = cpu_seconds(sim.proc.pid) - sim_cpu
    stop.set()
    for thread in threads:
        thread.join(60)
    return Result(name, polls_end - polls, errors_end - errors, wall, cpu, sim_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--vms-per-host", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=32, help="requests threads")
    parser.add_argument("--batch", type=int, default=50, help="hosts per poll_many")
    parser.add_argument("--callers", default="1,2", help="BatchPoller caller threads, comma-separated runs")
    parser.add_argument("--pool-size", type=int, default=64, help="AgentSettings.pool_size for both clients")
    parser.add_argument("--full", action="store_true", help="Host.getAllVmStats instead of Host.getVMList")
    args = parser.parse_args()

    settings = AgentSettings(connect_timeout=2.0, read_timeout=10.0, pool_size=args.pool_size)
    verb = "Host.getAllVmStats" if args.full else "Host.getVMList"
    print(f"{verb} polls of {args.hosts} simulated hosts x {args.vms_per_host} VMs, {args.seconds:g} s each, "
          f"pool_size {args.pool_size}, {os.cpu_count()} CPUs")
    with Simulator(args.hosts, args.vms_per_host) as sim:
        hosts = itertools.count()

        def request() -> PollRequest:
            i = next(hosts) % len(sim.urls)
            return PollRequest(f"h{i}", sim.urls[i], time.time(), full_vms=args.full, stats_due=args.full)

        session = make_session(settings)
        poller = HostPoller(AgentClient(session, settings))

        def threaded(keep_going: Callable[[], bool]) -> None:
            while keep_going():
                _count([poller.poll_request(request())])

        results = [measure(f"requests, {args.threads} threads", args.threads, threaded, args.seconds, sim)]
        session.close()

        for callers in (int(c) for c in args.callers.split(",")):
            batch = BatchPoller(settings)

            def batched(keep_going: Callable[[], bool], batch: BatchPoller = batch) -> None:
                while keep_going():
                    _count(batch.poll_many([request() for _ in range(args.batch)]))

            results.append(measure(f"batch {args.batch} x{callers} callers", callers, batched, args.seconds, sim))
            batch.close()
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
