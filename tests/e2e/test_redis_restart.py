"""Redis restarted empty (no persistence) under running workers and beat: updates go on at once.

The fencing tokens start again after the loss, under a later epoch, so the database keeps
accepting the hosts' updates; beat puts the hosts back on the lost schedule from the
database within its sync interval.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.support.procs import wait_for
from tests.support.redis_server import RedisServer
from tests.support.stored import host_up, vm_status
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import VmStatus
from vurti.inventory import add_hosts
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack, Worker, update_worker
from vurti.store.db import upgrade


def test_updates_go_on_after_redis_restarts_empty() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-redis-restart-"))
    server = RedisServer()
    server.start()
    env = {"VURTI_REDIS_URL": server.url, "VURTI_DATABASE_URL": f"sqlite:///{workdir / 'v.db'}",
           "VURTI_REFRESH_INTERVAL": "0.5", "VURTI_STATS_EVERY": "1"}  # an update (a token) per poll
    try:
        with LocalStack(workdir, env) as local:
            svc = Services(Settings.from_env(local.env))
            upgrade(svc.settings.database_url)
            sim_url = local.start_sim(1, 2, churn=0, seed=6)
            sim = ControlClient(sim_url)
            (host,) = add_hosts(svc, fleet_hosts(sim_url))
            local.start_workers([Worker("fetch", "fetch", "threads", 2), update_worker(1)])
            local.start_beat()

            wait_for(lambda: host_up(svc, host.id), timeout=60, what="host Up")
            vm_id = sim.vms(host.name)[0]["vm_id"]
            wait_for(lambda: vm_status(svc, vm_id) is VmStatus.Up, timeout=30, what="VM recorded Up")
            with svc.uow() as uow:
                before = uow.hosts.fence_token(host.id)
            started = time.monotonic()
            wait_for(lambda: time.monotonic() - started > 20, timeout=30, what="twenty seconds of updates")

            server.restart()  # every key gone: schedule, caches, locks, fencing counters
            restarted = time.monotonic()
            sim.pause(vm_id, code="EIO")
            wait_for(lambda: vm_status(svc, vm_id) is VmStatus.Paused, timeout=60, what="the pause recorded")
            elapsed = time.monotonic() - restarted
            assert elapsed < 10
            with svc.uow() as uow:
                assert (uow.hosts.fence_token(host.id) or 0) > (before or 0)
            assert "fencing token" not in local.logs("update")
            svc.redis.close()
            svc.engine.dispose()
    finally:
        server.stop()
