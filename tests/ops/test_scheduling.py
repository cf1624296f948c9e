"""Scheduling with real processes: two beats, expiring fetches, runtime removal, `celery call`.

SQLite, a real redis-server, the simulator, celery workers and beat. The poll
counter each fetch increments in the host cache tells how often a host was polled.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from celery.result import AsyncResult

from tests.support.procs import wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import RUNNING_VM_STATUSES, HostStatus
from vurti.inventory import InventoryError, add_hosts, remove_host
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack, Worker, update_worker
from vurti.store.db import upgrade

INTERVAL = 0.5


@dataclass
class Ops:
    local: LocalStack
    svc: Services
    sim_url: str

    def polls(self) -> dict[str, int]:
        """Polls so far per host (the host cache's cycle counter)."""
        ids = [c.id for c, _ in self._hosts()]
        pipe = self.svc.redis.pipeline()
        for host_id in ids:
            pipe.hget(f"vurti:host:{host_id}", "cycle")
        return {h: int(v or 0) for h, v in zip(ids, pipe.execute(), strict=True)}

    def _hosts(self) -> list:  # type: ignore[type-arg]
        with self.svc.uow() as uow:
            return uow.hosts.list_hosts()

    def all_up(self) -> bool:
        return all(s.status is HostStatus.Up for _, s in self._hosts())


@pytest.fixture(scope="module")
def ops() -> Iterator[Ops]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-ops-"))
    # Without events: these tests count polls per interval (test_push.py covers the safety-net cadence).
    env = {"VURTI_DATABASE_URL": f"sqlite:///{workdir / 'v.db'}", "VURTI_REFRESH_INTERVAL": str(INTERVAL),
           "VURTI_PUSH": "0"}
    with LocalStack(workdir, env) as local:
        local.start_redis()
        svc = Services(Settings.from_env(local.env))
        upgrade(svc.settings.database_url)
        sim_url = local.start_sim(3, 2, churn=0, seed=2)
        add_hosts(svc, fleet_hosts(sim_url))
        local.start_workers([Worker("fetch", "fetch", "threads", 4), update_worker(1)])
        local.start_beat("beat1")
        local.start_beat("beat2")
        o = Ops(local, svc, sim_url)
        wait_for(o.all_up, timeout=60, what="hosts Up")
        yield o
        svc.redis.close()
        svc.engine.dispose()


def test_two_beats_poll_each_host_once_per_interval(ops: Ops) -> None:
    before = ops.polls()
    started = time.monotonic()
    wait_for(lambda: time.monotonic() - started >= 8 * INTERVAL and min(ops.polls().values()) > 0, timeout=30,
             what="eight intervals")
    elapsed = time.monotonic() - started
    after = ops.polls()
    for host_id, count in after.items():
        polls = count - before[host_id]
        # One claim per slot whatever the number of beats; a duplicate sender would double this.
        assert elapsed / INTERVAL - 3 <= polls <= elapsed / INTERVAL + 2, (host_id, polls, elapsed)


def test_fetches_queued_while_no_worker_runs_expire_instead_of_replaying(ops: Ops) -> None:
    fetch = next(c for c in ops.local.children if c.name == "fetch")
    ops.local.stop(fetch)
    stopped = ops.polls()
    time.sleep(10 * INTERVAL)  # let beat queue ten intervals' worth of polls (the backlog under test)
    ops.local.start_worker("fetch", "fetch", pool="threads", concurrency=4)
    restarted = time.monotonic()
    wait_for(lambda: all(v > stopped[h] for h, v in ops.polls().items()), timeout=30, what="polling again")
    wait_for(lambda: time.monotonic() - restarted >= 2 * INTERVAL, timeout=10, what="two intervals")
    elapsed = time.monotonic() - restarted
    for host_id, count in ops.polls().items():
        # Ten stale polls per host were queued; only the fresh ones ran.
        assert count - stopped[host_id] <= elapsed / INTERVAL + 3, (host_id, count - stopped[host_id])


def test_celery_call_refreshes_a_host_and_returns_what_changed(ops: Ops) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "call", "vurti.refresh_host", "--args", '["host-0002"]'],
        capture_output=True, text=True, timeout=60, check=False, env=ops.local.env, cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    task_id = out.stdout.strip().splitlines()[-1]
    url = ops.local.env["VURTI_REDIS_URL"]
    reader = Celery("reader", broker=url, backend=url, set_as_current=False)
    result = AsyncResult(task_id, app=reader).get(timeout=30)
    assert result["applied"] is True and result["status"] == "Up", result


def test_host_removed_at_runtime_is_no_longer_polled(ops: Ops) -> None:
    host_id = ops.svc.resolve_host("host-0003").id
    with pytest.raises(InventoryError, match="still runs VM"):
        remove_host(ops.svc, "host-0003")  # as in oVirt: not while VMs run on it
    sim = ControlClient(ops.sim_url)
    for vm in sim.vms("host-0003"):
        sim.stop(vm["vm_id"])
    wait_for(lambda: _running_on(ops, host_id) == 0, timeout=30, what="VMs of host-0003 down")
    removed = remove_host(ops.svc, "host-0003")
    assert removed.id not in ops.svc.schedule.scheduled()
    at_removal = int(ops.svc.redis.hget(f"vurti:host:{removed.id}", "cycle") or 0)
    others = ops.polls()
    wait_for(lambda: all(v >= others[h] + 4 for h, v in ops.polls().items()), timeout=30,
             what="four more polls of the other hosts")
    assert int(ops.svc.redis.hget(f"vurti:host:{removed.id}", "cycle") or 0) <= at_removal + 1


def test_beat_stops_claiming_while_the_update_queue_is_backed_up(ops: Ops) -> None:
    update = next(c for c in ops.local.children if c.name == "update")
    ops.local.stop(update)
    # As many update messages waiting as the backlog allows (placeholders: no worker takes them).
    ops.svc.redis.rpush("update", *[b"placeholder"] * ops.svc.settings.update_backlog)
    try:
        seen: list[tuple[float, dict[str, int]]] = []

        def quiet_for_four_intervals() -> bool:
            now, polls = time.monotonic(), ops.polls()
            seen.append((now, polls))
            return any(now - at >= 4 * INTERVAL and earlier == polls for at, earlier in seen)

        wait_for(quiet_for_four_intervals, timeout=30, interval=0.1, what="no poll for four intervals")
    finally:
        ops.svc.redis.delete("update")
        ops.local.start_worker("update", "update", pool="solo", concurrency=1)
    resumed = ops.polls()
    wait_for(lambda: all(v >= resumed[h] + 2 for h, v in ops.polls().items()), timeout=30,
             what="polls again once the update queue drained")


def _running_on(ops: Ops, host_id: str) -> int:
    with ops.svc.uow() as uow:
        return len([vm for vm in uow.vms.list_vms(host_id) if vm.status in RUNNING_VM_STATUSES])
