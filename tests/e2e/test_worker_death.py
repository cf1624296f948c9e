"""kill -9 of a prefork child in the middle of an update: the redelivered update is applied at once.

Real processes: redis-server, the session's PostgreSQL (a fresh database), the simulator,
a fetch worker, a prefork update worker and beat. The test holds the host's row lock in
PostgreSQL so the update of a VM pause blocks while it holds the host's Redis lock, kills
the worker's child then, and lets go of the row.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import _fresh_pg_database
from tests.support.procs import wait_for
from tests.support.stored import host_up, vm_status
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import VmStatus
from vurti.faults.procs import children_of
from vurti.inventory import add_hosts
from vurti.runtime import keys
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack
from vurti.store.db import upgrade

LOCK_TTL = 30.0


@pytest.mark.postgres
def test_an_update_redelivered_after_kill_9_is_not_skipped_as_locked(postgres_url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-kill-"))
    env = {"VURTI_DATABASE_URL": _fresh_pg_database(postgres_url), "VURTI_REFRESH_INTERVAL": "1",
           "VURTI_LOCK_TTL": str(LOCK_TTL)}
    with LocalStack(workdir, env) as local:
        local.start_redis()
        svc = Services(Settings.from_env(local.env))
        upgrade(svc.settings.database_url)
        sim_url = local.start_sim(1, 2, churn=0, seed=5)
        sim = ControlClient(sim_url)
        (host,) = add_hosts(svc, fleet_hosts(sim_url))
        local.start_worker("fetch", "fetch", pool="threads", concurrency=2)
        update = local.start_worker("update", "update", pool="prefork", concurrency=1)
        local.start_beat()

        wait_for(lambda: host_up(svc, host.id), timeout=60, what="host Up")
        vm_id = sim.vms(host.name)[0]["vm_id"]
        wait_for(lambda: vm_status(svc, vm_id) is VmStatus.Up, timeout=30, what="VM recorded Up")

        blocker = sa.create_engine(svc.settings.database_url)
        conn = blocker.connect()
        trans = conn.begin()
        conn.execute(sa.text("SELECT 1 FROM vds_dynamic WHERE vds_id = :h FOR UPDATE"), {"h": host.id})
        try:
            sim.pause(vm_id, code="EIO")
            # The update of the pause now holds the host's Redis lock and waits for the row.
            wait_for(lambda: svc.redis.exists(keys.host_lock(host.id)), timeout=30,
                     what="an update holding the host's lock")
            (child,) = children_of(update.proc.pid)
            os.kill(child, signal.SIGKILL)
            killed = time.monotonic()
        finally:
            trans.rollback()
            conn.close()
            blocker.dispose()
        # Redelivered (acks late, reject on worker lost) to the pool's new child: it takes over the
        # dead hold instead of being acknowledged as skipped while the lock lives out its TTL.
        wait_for(lambda: vm_status(svc, vm_id) is VmStatus.Paused, timeout=LOCK_TTL, what="the pause recorded")
        assert time.monotonic() - killed < LOCK_TTL / 2
        assert "WorkerLostError" in local.logs("update") or "signal 9" in local.logs("update")
        svc.redis.close()
        svc.engine.dispose()
