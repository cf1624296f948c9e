"""Real workers and beat against a redis-server that requires a password, and one that speaks only TLS.

The password must never show: not in the processes' logs, not in Settings' repr.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.pki import make_pki
from tests.support.procs import wait_for
from tests.support.redis_server import RedisServer
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import HostStatus
from vurti.inventory import add_hosts
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack, Worker, update_worker
from vurti.store.db import upgrade

PASSWORD = "pw-Zq8v3kYt1"


@pytest.fixture(params=["password", "tls"])
def secured(request: pytest.FixtureRequest) -> Iterator[tuple[RedisServer, dict[str, str]]]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-redis-sec-"))
    env: dict[str, str] = {}
    tls = None
    if request.param == "tls":
        pki = make_pki(workdir)
        tls = (str(pki.ca), str(pki.server_cert), str(pki.server_key))
        env["VURTI_REDIS_CA_FILE"] = str(pki.ca)
    server = RedisServer(password=PASSWORD, tls=tls)
    server.start()
    env.update({"VURTI_REDIS_URL": server.url, "VURTI_DATABASE_URL": f"sqlite:///{workdir / 'v.db'}",
                # Polls counted at their own cadence: without events, whose safety-net polls
                # (VURTI_PUSH_INTERVAL) would leave "polling goes on" to timing.
                "VURTI_REFRESH_INTERVAL": "0.5", "VURTI_PUSH": "0", "WORKDIR": str(workdir)})
    try:
        yield server, env
    finally:
        server.stop()


def test_workers_and_beat_run_against_a_secured_redis(secured: tuple[RedisServer, dict[str, str]]) -> None:
    server, env = secured
    workdir = Path(env.pop("WORKDIR"))
    with LocalStack(workdir, env) as local:
        settings = Settings.from_env(local.env)
        assert PASSWORD not in repr(settings)
        svc = Services(settings)
        upgrade(settings.database_url)
        sim_url = local.start_sim(2, 1, churn=0, seed=4)
        ids = [c.id for c in add_hosts(svc, fleet_hosts(sim_url))]
        local.start_workers([Worker("fetch", "fetch", "threads", 2), update_worker(1)])
        local.start_beat()

        def all_up() -> bool:
            with svc.uow() as uow:
                return all(uow.hosts.get_host_state(h).status is HostStatus.Up for h in ids)

        wait_for(all_up, timeout=60, what="hosts Up through the secured Redis")
        polls = {h: int(svc.redis.hget(f"vurti:host:{h}", "cycle") or 0) for h in ids}
        wait_for(lambda: all(int(svc.redis.hget(f"vurti:host:{h}", "cycle") or 0) > polls[h] + 2 for h in ids),
                 timeout=30, what="polling goes on")
        if server.tls:
            assert svc.redis.connection_pool.connection_kwargs.get("ssl_ca_certs") == env["VURTI_REDIS_CA_FILE"]
        for name in ("fetch", "update", "beat", "sim"):
            log = local.logs(name)
            assert log, name
            assert PASSWORD not in log, f"password in the {name} log"
        svc.redis.close()
        svc.engine.dispose()
