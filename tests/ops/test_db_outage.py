"""A PostgreSQL outage does not stop polling: beat claims from Redis with the last schedule,
and neither beat nor the update worker fills its log with a traceback per attempt.

Real processes: redis-server, a PostgreSQL of its own (stopped mid-test), the simulator,
a fetch worker, an update worker and beat. The poll counter each fetch increments in
the host cache (Redis) tells how often a host was polled.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.inventory import add_hosts
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack, Worker, update_worker
from vurti.store.db import upgrade

INTERVAL = 0.5


@pytest.fixture()
def local() -> Iterator[LocalStack]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-dbdown-"))
    # Polls counted per interval: without events (test_push.py covers the safety-net cadence).
    with LocalStack(workdir, {"VURTI_REFRESH_INTERVAL": str(INTERVAL), "VURTI_PUSH": "0"}) as stack:
        stack.start_redis()
        stack.env["VURTI_DATABASE_URL"] = stack.start_postgres()
        yield stack


@pytest.mark.postgres
def test_polling_goes_on_while_the_database_is_down(local: LocalStack) -> None:
    svc = Services(Settings.from_env(local.env))
    upgrade(svc.settings.database_url)
    sim_url = local.start_sim(2, 1, churn=0, seed=3)
    ids = [c.id for c in add_hosts(svc, fleet_hosts(sim_url))]
    svc.engine.dispose()
    local.start_workers([Worker("fetch", "fetch", "threads", 4), update_worker(1)])
    local.start_beat()

    def polls() -> dict[str, int]:
        return {h: int(svc.redis.hget(f"vurti:host:{h}", "cycle") or 0) for h in ids}

    wait_for(lambda: min(polls().values()) >= 3, timeout=60, what="first polls")
    local.stop(next(c for c in local.children if c.name == "postgres"))
    at_outage = polls()
    # Ten more polls per host: beat has tried to sync with the database five times meanwhile.
    wait_for(lambda: all(v >= at_outage[h] + 10 for h, v in polls().items()), timeout=30,
             what="polls during the database outage")
    beat_log = local.logs("beat")
    assert beat_log.count("schedule sync with the database failed") == 1, beat_log[-3000:]
    assert "Traceback" not in beat_log, beat_log[-3000:]
    # The update worker's failed reports: one line for the outage, not a traceback each.
    update_log = local.logs("update")
    assert update_log.count("updates: the database failed") == 1, update_log[-3000:]
    assert "Traceback" not in update_log, update_log[-3000:]
    svc.redis.close()
