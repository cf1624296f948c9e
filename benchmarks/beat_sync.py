"""CPU of beat's schedule sync with the database, which it runs every two seconds, by fleet size.

Starts redis-server, registers H hosts in a SQLite database, then times (process CPU,
the mean of R calls) a full sync (reads the schedule and the hosts' URLs back from
Redis, as on beat's first sync and once a minute) and an ordinary one (writes what
changed since the last), and their parts.

    .venv/bin/python benchmarks/beat_sync.py [--hosts 5000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.model import Cluster, HostConfig
from vurti.stack import LocalStack
from vurti.store.db import upgrade


def cpu_ms(call: Callable[[], Any], rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        call()
    return (time.process_time() - start) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Path(tmp))
        try:
            run(stack, Path(tmp), args.hosts, args.rounds)
        finally:
            stack.close()


def run(stack: LocalStack, tmp: Path, hosts: int, rounds: int) -> None:
    db_url = f"sqlite:///{tmp / 'v.db'}"
    upgrade(db_url)
    svc = Services(Settings.from_env({"VURTI_DATABASE_URL": db_url, "VURTI_REDIS_URL": stack.start_redis()}))
    with svc.uow() as uow:
        uow.hosts.add_cluster(Cluster(id="c1", name="c1"))
        for i in range(hosts):
            uow.hosts.add_host(HostConfig(id=f"{i:08x}-0000-4000-8000-000000000000", name=f"host-{i:05d}",
                                          cluster_id="c1", url=f"stomp://127.0.{i // 250}.{1 + i % 250}:54321"))
        uow.commit()
    svc.sync_schedule(time.time())
    with svc.uow() as uow:
        configs = uow.hosts.list_host_configs()
    ids = [c.id for c in configs]
    urls = {c.id: c.url for c in configs}
    wanted = dict.fromkeys(ids, 3.0)

    def configs_only() -> None:
        with svc.uow() as uow:
            uow.hosts.list_host_configs()

    def hosts_and_states() -> None:
        with svc.uow() as uow:
            uow.hosts.list_hosts()

    print(f"{hosts} hosts, CPU ms per call (mean of {rounds}):")
    print(f"  sync, ordinary (what changed since the last) {cpu_ms(lambda: svc.sync_schedule(time.time()), rounds):8.1f}")
    print(f"  schedule, full (read back from Redis)        "
          f"{cpu_ms(lambda: svc.schedule.sync(wanted, time.time(), full=True), rounds):8.1f}")
    print(f"  schedule, ordinary                           "
          f"{cpu_ms(lambda: svc.schedule.sync(wanted, time.time(), full=False), rounds):8.1f}")
    print(f"  URLs, verified against Redis                 {cpu_ms(lambda: svc.cache.sync_urls(urls, True), rounds):8.1f}")
    print(f"  URLs, ordinary                               {cpu_ms(lambda: svc.cache.sync_urls(urls, False), rounds):8.1f}")
    print(f"  hosts' configurations from the database      {cpu_ms(configs_only, rounds):8.1f}")
    print(f"  (hosts with their states, what it read before {cpu_ms(hosts_and_states, rounds):7.1f})")


if __name__ == "__main__":
    main()
