"""The real-process stack the end-to-end modules share: redis-server, the simulator
(over STOMP with TLS, as VDSM), celery workers (both queues) and beat, once per
module and per database.

Module scope keeps each module's story to itself (its faults, pauses and
migrations never leak into another module's expectations). The pipeline's own
modules (pipeline, wire, redis restart, worker death) run on SQLite, then
PostgreSQL. The rule modules name one database each (DATABASES), half of them
each: what they prove is the analyzers' rules through the real processes, and the
SQL under those rules is the same statements the repository tests and the
pipeline modules run on both databases.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.procs import wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import HostStatus
from vurti.inventory import add_hosts
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import LocalStack, Worker
from vurti.store.db import upgrade

INTERVAL = 1.0  # seconds between polls of each host
HOSTS = 4  # the last one is not registered at start: a test adds it at runtime


@dataclass
class Stack:
    local: LocalStack
    svc: Services
    sim: ControlClient
    sim_url: str

    def host_id(self, name: str) -> str:
        found = self.svc.resolve_host(name)
        assert found is not None, name
        return str(found.id)

    def vm(self, vm_id: str) -> Any:
        with self.svc.uow() as uow:
            return uow.vms.get_vm(vm_id)

    def host_status(self, name: str) -> HostStatus:
        with self.svc.uow() as uow:
            state = uow.hosts.get_host_state(self.host_id(name))
        assert state is not None
        return state.status

    def vm_recorded(self, host: str) -> bool:
        """Every VM the simulator runs on `host` is in the DB on that host."""
        host_id = self.host_id(host)
        running = [v["vm_id"] for v in self.sim.vms(host) if v["truth"]["host"] == host]
        with self.svc.uow() as uow:
            return all((vm := uow.vms.get_vm(vm_id)) is not None and vm.host_id == host_id for vm_id in running)

    def audit(self, vm_id: str) -> list[Any]:
        with self.svc.uow() as uow:
            return [e for e in uow.audit.recent(1000) if e.vm_id == vm_id]

    def host_audit(self, name: str) -> list[Any]:
        with self.svc.uow() as uow:
            return list(uow.audit.recent(1000, self.host_id(name)))


def _fresh_pg_database(server_url: str) -> str:
    name = f"e2e_{int(time.time() * 1000)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The databases a module's stack runs on: both, unless the module names one (DATABASES)."""
    if "stack" in metafunc.fixturenames:
        databases = getattr(metafunc.module, "DATABASES", ("sqlite", "postgresql"))
        metafunc.parametrize("stack", databases, indirect=True, scope="module")


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-e2e-"))
    if request.param == "sqlite":
        db_url = f"sqlite:///{workdir / 'vurti.db'}"
    else:
        db_url = _fresh_pg_database(request.getfixturevalue("postgres_url"))
    env = {
        "VURTI_DATABASE_URL": db_url,
        "VURTI_REFRESH_INTERVAL": str(INTERVAL),
        "VURTI_STATS_EVERY": "3",
        "VURTI_RESET_TIMEOUT": "3",
        "VURTI_RESET_DELAY_PER_VM": "0.1",
        "VURTI_RESET_ATTEMPTS": "2",
        "VURTI_AGENT_READ_TIMEOUT": "2",
        "VURTI_AGENT_CONNECT_TIMEOUT": "1",
        "VURTI_AGENT_HEARTBEAT": "2",
        # Events flow on every link; the safety-net polls stay frequent enough for the tests that
        # wait for a poll (recovery, grace periods). test_push.py runs its own stack with a long one.
        "VURTI_PUSH_INTERVAL": "3",
        **getattr(request.module, "STACK_ENV", {}),  # a module's own settings (short graces, ...)
    }
    pki = workdir / "pki"
    with LocalStack(workdir, env) as local:
        # A module may give the simulator more arguments (SIM_ARGS), e.g. hosts of an older VDSM.
        extra = ("--tick-seconds", "0.3", *getattr(request.module, "SIM_ARGS", ()))
        sim_url = local.start_sim(HOSTS, 3, churn=0, seed=7, extra=extra, tls_dir=pki)
        local.env.update({  # the engine's side of the simulator's PKI (made when it started)
            "VURTI_AGENT_CA_FILE": str(pki / "cacert.pem"),
            "VURTI_AGENT_CERT_FILE": str(pki / "engine-cert.pem"),
            "VURTI_AGENT_KEY_FILE": str(pki / "engine-key.pem"),
        })
        local.start_redis()
        settings = Settings.from_env(local.env)
        svc = Services(settings)
        upgrade(settings.database_url)
        sim = ControlClient(sim_url)
        hosts = fleet_hosts(sim_url)
        add_hosts(svc, hosts[:-1])
        local.start_workers([Worker("fetch1", "fetch", "threads", 8), Worker("update1", "update", "prefork", 2),
                             Worker("update2", "update", "prefork", 2)])
        local.start_beat()
        stack = Stack(local, svc, sim, sim_url)
        wait_for(lambda: all(stack.host_status(h.name) is HostStatus.Up for h in hosts[:-1]),
                 timeout=60, what="hosts Up")
        # A host is Up before its VMs are recorded (the VM list comes with the next
        # poll): a test acting on a VM vurti has not seen yet would race that poll.
        wait_for(lambda: all(stack.vm_recorded(h.name) for h in hosts[:-1]), timeout=60, what="VMs recorded")
        try:
            yield stack
        finally:
            svc.redis.close()
            svc.engine.dispose()
