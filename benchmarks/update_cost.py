"""Where one update's time goes, in one process: poll parse, message encode/decode, load, analyze, write.

Real SQLite (or VURTI_DATABASE_URL) and a local redis-server; the host is a
simulated one driven in process (no HTTP), so only vurti's own work is timed.

    .venv/bin/python benchmarks/update_cost.py [--vms 20] [--rounds 300] [--profile load|analyze|write]
                                               [--batch 25] [--clock cpu|wall]

Then, with --batch B > 1, the same statistics cycle for B hosts through the update
service (locks, load, analyze, write, cache refresh), one report at a time and as
one batch (`update_many`), per host.

Times are this thread's CPU time by default (`--clock cpu`: SQLite runs in it, redis-server
does not), which a busy machine disturbs far less than wall time (`--clock wall`, the
figures before 2026-12-02).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec
import orjson

from vurti.agent.plan import PollRequest
from vurti.agent.steps import (
    ALL_VM_STATS_CALL,
    CAPABILITIES_CALL,
    STATS_CALL,
    VM_LIST_CALL,
    Call,
    poll_steps,
    run_steps,
)
from vurti.analyze import analyze
from vurti.bench.inproc import fleet_up
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.report import HostReport
from vurti.inventory import NewHost, add_hosts
from vurti.sim.fleet import Fleet
from vurti.sim.rpc import Rpc
from vurti.stack import LocalStack
from vurti.store.db import upgrade
from vurti.store.updater import apply_analysis

T = TypeVar("T")
clock = time.thread_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--profile", choices=["load", "analyze", "write"], help="cProfile this part, top functions")
    parser.add_argument("--batch", type=int, default=25, help="hosts per batch for the batch comparison (0: skip)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="thread CPU time or wall time")
    args = parser.parse_args()
    global clock
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Path(tmp))
        try:
            run(stack, Path(tmp), args.vms, args.rounds, args.profile)
            if args.batch > 1:
                run_batch(stack, Path(tmp), args.vms, args.batch, max(10, args.rounds // args.batch))
        finally:
            stack.close()


def run(stack: LocalStack, tmp: Path, vms: int, rounds: int, profile: str | None) -> None:
    profiler = cProfile.Profile()

    def part(name: str, fn: Callable[[], T]) -> T:
        if name != profile:
            return fn()
        profiler.enable()
        try:
            return fn()
        finally:
            profiler.disable()

    redis_url = stack.start_redis()
    settings = Settings.from_env({"VURTI_DATABASE_URL": f"sqlite:///{tmp / 'v.db'}", "VURTI_REDIS_URL": redis_url})
    upgrade(settings.database_url)
    svc = Services(settings)
    fleet = Fleet(1, 1, vms)
    rpc = Rpc(fleet)
    sim_host = next(iter(fleet.hosts.values())) if isinstance(fleet.hosts, dict) else fleet.hosts[0]
    (host,) = add_hosts(svc, [NewHost("h", "http://127.0.0.1:9/hosts/h/")])

    parse_times: list[float] = []

    def poll(now: float, **plan: bool) -> HostReport:
        request = PollRequest(host.id, "unused", now=now, **plan)
        replies = {c: rpc.call(sim_host, c.verb, c.params or {}) for c in _calls(request)}  # rendered beforehand
        started = clock()
        report = run_steps(poll_steps(request), lambda call: orjson.loads(replies[call]))
        parse_times.append((clock() - started) * 1e6)
        return report

    now = time.time()
    for _ in range(3):  # Unassigned -> Up, then VMs known
        svc.update.update(poll(now, capabilities=True, host_stats=True, vms=True, full_vms=True, stats_due=True))
        now += 3
    timings: dict[str, list[float]] = {k: [] for k in ("parse", "encode", "decode", "load", "analyze", "write", "total")}
    for _ in range(rounds):
        now += 3
        report = poll(now, host_stats=True, vms=True, full_vms=True, stats_due=True)
        t1 = clock()
        t0 = t1 - parse_times[-1] / 1e6
        wire = msgspec.json.encode(report.to_json())
        t2 = clock()
        back = HostReport.from_json(msgspec.json.decode(wire))
        t3 = clock()
        with svc.locks.hold(host.id) as lease, svc.uow() as uow:
            t4 = clock()
            snap = part("load", lambda: uow.hosts.load_snapshot(host.id, [v.vm_id for v in back.vms or ()]))  # noqa: B023 - part() calls it at once
            t5 = clock()
            analysis = part("analyze", lambda: analyze(snap, back, now, settings.policy))  # noqa: B023 - part() calls it at once
            t6 = clock()
            written = part("write", lambda: apply_analysis(uow, snap, analysis, lease.fence_token, now, svc.bus.names))  # noqa: B023 - part() calls it at once
            t7 = clock()
        assert written.applied
        for key, value in (("parse", t1 - t0), ("encode", t2 - t1), ("decode", t3 - t2), ("load", t5 - t4),
                           ("analyze", t6 - t5), ("write", t7 - t6), ("total", t7 - t0)):
            timings[key].append(value * 1e6)
    print(f"one statistics cycle of a host with {vms} VMs, median of {rounds} (us):")
    for key, values in timings.items():
        print(f"  {key:8s} {statistics.median(values):8.0f}")
    print(f"  analysis of the last round: {len(analysis.vms)} VM rows, {len(analysis.vm_stats)} VM stats, "
          f"events {len(analysis.events)}")
    if profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    svc.engine.dispose()
    svc.redis.close()


def run_batch(stack: LocalStack, tmp: Path, vms: int, size: int, rounds: int) -> None:
    """Per host: the update service one report at a time, then `update_many` on the whole batch."""
    svc, fleet, now = fleet_up(stack, tmp / "batch.db", size, vms)
    single: list[float] = []
    together: list[float] = []
    for _ in range(rounds):
        for kind in ("single", "together"):
            now += 3
            batch = fleet.reports(now)
            started = clock()
            outcomes = [svc.update.update(r) for r in batch] if kind == "single" else svc.update.update_many(batch)
            elapsed = (clock() - started) * 1e6 / size
            assert all(o.applied for o in outcomes), outcomes
            (single if kind == "single" else together).append(elapsed)
    print(f"a statistics cycle of {size} hosts x {vms} VMs through the update service, per host, "
          f"median of {rounds} (us):")
    print(f"  one report at a time  {statistics.median(single):8.0f}")
    print(f"  one batch             {statistics.median(together):8.0f}")
    svc.engine.dispose()
    svc.redis.close()


def _calls(request: PollRequest) -> list[Call]:
    """The calls poll_steps makes for this request, in its order."""
    calls = [CAPABILITIES_CALL] if request.capabilities else []
    calls += [STATS_CALL] if request.host_stats else []
    calls += [ALL_VM_STATS_CALL if request.full_vms else VM_LIST_CALL] if request.vms else []
    return calls


if __name__ == "__main__":
    main()
