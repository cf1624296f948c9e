"""CPU of the real update worker per report, by reports per message: Celery's share and vurti's.

Starts redis-server and one solo update worker on SQLite (as `vurti bench` does),
registers H simulated hosts (replies rendered in process, no HTTP), brings them Up,
then sends `update_hosts` messages of B statistics reports each (the serializer
fetch_hosts uses) and reads the worker's CPU from /proc before and after. The same
reports applied by `update_many` in this process give the part that is vurti's
own work; the rest is the worker's: receiving, decoding, acknowledging.

    .venv/bin/python benchmarks/update_worker.py [--hosts 100] [--vms 20] [--batches 1,5,10,25,50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tasks import app
from tasks.monitoring import update_hosts
from tasks.serialization import NAME
from vurti.bench.inproc import InProcessFleet
from vurti.bench.procs import cpu_seconds
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.model import HostConfig
from vurti.stack import LocalStack, wait_until
from vurti.store.db import upgrade


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--batches", default="1,5,10,25,50", help="reports per message, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="statistics cycles of every host per batch size")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Path(tmp))
        try:
            run(stack, Path(tmp), args.hosts, args.vms, sizes, args.rounds)
        finally:
            stack.close()


def run(stack: LocalStack, tmp: Path, hosts_n: int, vms: int, sizes: list[int], rounds: int) -> None:
    redis_url = stack.start_redis()
    db_url = f"sqlite:///{tmp / 'v.db'}"
    stack.env.update({"VURTI_DATABASE_URL": db_url, "VURTI_REDIS_URL": redis_url})
    settings = Settings.from_env(stack.env)
    upgrade(db_url)
    svc = Services(settings)
    app.conf.broker_url = redis_url
    fleet = InProcessFleet(svc, hosts_n, vms)
    now = fleet.bring_up(svc.update, time.time())
    worker = stack.start_update_worker(1)
    print(f"{hosts_n} hosts x {vms} VMs, a statistics cycle each, {rounds} rounds per size; "
          "CPU ms per report:")
    print(f"  {'reports/msg':>11} {'worker':>8} {'in process':>10} {'the rest':>9}")
    for size in sizes:
        worker_ms, local_ms = [], []
        for _ in range(rounds):
            now += 3
            batch = fleet.reports(now)
            before = cpu_seconds(worker.proc.pid)
            for start in range(0, len(batch), size):
                part = batch[start : start + size]
                update_hosts.apply_async(args=[part], serializer=NAME)
            wait_until(lambda n=now: _all_applied(svc, fleet.hosts, n), 120, "the worker applying the batch")
            worker_ms.append((cpu_seconds(worker.proc.pid) - before) * 1e3 / len(batch))
            now += 3
            batch = fleet.reports(now)
            started = time.process_time()
            for start in range(0, len(batch), size):
                outcomes = svc.update.update_many(batch[start : start + size])
                assert all(o.applied for o in outcomes), outcomes
            local_ms.append((time.process_time() - started) * 1e3 / len(batch))
        w, loc = sorted(worker_ms)[len(worker_ms) // 2], sorted(local_ms)[len(local_ms) // 2]
        print(f"  {size:>11} {w:8.2f} {loc:10.2f} {w - loc:9.2f}")
    svc.engine.dispose()
    svc.redis.close()


def _all_applied(svc: Services, hosts: list[HostConfig], now: float) -> bool:
    with svc.uow() as uow:
        return all((s := uow.hosts.get_host_state(h.id)) is not None and s.last_report_at == now for h in hosts)


if __name__ == "__main__":
    main()
