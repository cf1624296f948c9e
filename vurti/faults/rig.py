"""One case's stack: redis-server, SQLite or PostgreSQL, the simulator with churn, workers and beat.

Built on `vurti.stack.LocalStack` (the processes `vurti run` and the tests run), with
short intervals so a case sees many transitions in a minute, and the readers the
counting needs: the simulator's truth, vurti's stored state, convergence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.faults import observe
from vurti.inventory import add_hosts
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import Child, LocalStack, Worker, wait_until
from vurti.store.db import upgrade

REFRESH = 1.0  # seconds between polls of a host whose events do not flow
PUSH = 2.0  # seconds between the safety-net polls of a host whose events flow
OBSERVE = 2 * max(REFRESH, PUSH)  # a state held this long is seen by two polls at least


@dataclass(frozen=True)
class Layout:
    db: str = "sqlite"
    update_pool: str = "prefork"  # prefork (2 processes) or solo
    update_workers: int = 1
    fetch_workers: int = 1
    persist_redis: bool = False
    env: tuple[tuple[str, str], ...] = ()
    hosts: int = 6
    vms_per_host: int = 5
    churn: float = 20.0  # life events per host per minute
    seed: int = 11


@dataclass
class Rig:
    workdir: Path
    layout: Layout
    local: LocalStack = field(init=False)
    sim: ControlClient = field(init=False)
    engine: Any = field(init=False)
    redis: redis.Redis = field(init=False)
    host_names: list[str] = field(init=False)
    revived: list[str] = field(default_factory=list)  # workers or beat that exited by themselves
    _stopped: dict[str, Child] = field(default_factory=dict)  # stopped on purpose, to be restarted

    def start(self) -> None:
        lay = self.layout
        env = {"VURTI_REFRESH_INTERVAL": str(REFRESH), "VURTI_PUSH_INTERVAL": str(PUSH), "VURTI_STATS_EVERY": "3",
               "VURTI_AGENT_READ_TIMEOUT": "2", "VURTI_AGENT_CONNECT_TIMEOUT": "1", "VURTI_AGENT_HEARTBEAT": "2",
               **dict(lay.env)}
        self.local = LocalStack(self.workdir, env)
        local = self.local
        sim_url = local.start_sim(lay.hosts, lay.vms_per_host, churn=lay.churn, seed=lay.seed,
                                  extra=("--tick-seconds", "1"))
        self.sim = ControlClient(sim_url)
        self.sim.set_clock(False)  # still until vurti has seen the fleet once
        local.start_redis(persist=lay.persist_redis)
        db_url = f"sqlite:///{self.workdir / 'vurti.db'}" if lay.db == "sqlite" else local.start_postgres()
        local.env["VURTI_DATABASE_URL"] = db_url
        settings = Settings.from_env(local.env)
        upgrade(db_url)
        svc = Services(settings)
        try:
            add_hosts(svc, fleet_hosts(sim_url))
        finally:
            svc.engine.dispose()
            svc.redis.close()
        self.engine = sa.create_engine(db_url, pool_pre_ping=True)
        self.redis = redis.Redis.from_url(local.env["VURTI_REDIS_URL"], socket_timeout=5)
        self.host_names = [h["name"] for h in self.sim.hosts()]
        local.start_workers([*(Worker(f"fetch{i + 1}", "fetch", "threads", 8) for i in range(lay.fetch_workers)),
                             *(self._update(f"update{i + 1}") for i in range(lay.update_workers))])
        local.start_beat()

    def _update(self, name: str) -> Worker:
        pool = self.layout.update_pool
        return Worker(name, "update", pool, 1 if pool == "solo" else 2)

    def stop(self, name: str) -> None:
        """Stop a worker or beat on purpose (it is not revived); `restart` starts it again."""
        child = self.local.child(name)
        self._stopped[name] = child
        self.local.stop(child)

    def restart(self, name: str) -> Child:
        """Start a worker or beat again under its name (after it was killed or stopped), as it was started."""
        child = self._stopped.pop(name, None) or self.local.child(name)
        assert child.again is not None, name
        self.local.stop(child)
        return child.again()

    def revive(self) -> None:
        """Start again a worker or beat that exited by itself (LocalStack.revive, as the
        deployment's supervisor does); each one is named in the case's notes."""
        self.revived.extend(name for name, _ in self.local.revive())

    def close(self) -> None:
        self.local.close()
        self.engine.dispose()
        self.redis.close()

    # -- the truth and the record ------------------------------------------------------

    def freeze(self) -> float:
        self.sim.set_clock(False)
        return time.time()

    def thaw(self) -> None:
        self.sim.set_clock(True)

    def differences(self) -> list[str]:
        diff = observe.differences(self.sim.truth(), observe.vms(self.engine), observe.hosts(self.engine),
                                   self.host_names)
        pending = observe.undelivered(self.engine)
        return diff + ([f"{pending} events not in the audit log yet"] if pending else [])

    def converge(self, deadline: float) -> tuple[float | None, list[str]]:
        """Seconds until the stored state equals the (frozen) truth; None and the differences at the deadline."""
        started = time.monotonic()
        last: list[str] = ["not read yet"]
        while time.monotonic() - started < deadline:
            self.revive()
            try:
                last = self.differences()
            except Exception as exc:  # noqa: BLE001 - the database may still be coming back
                last = [f"reading failed: {exc.__class__.__name__}"]
            if not last:
                return time.monotonic() - started, []
            time.sleep(0.25)
        return None, last

    def wait_ready(self) -> None:
        """Every host Up and every VM as the truth says, on a frozen fleet."""
        wait_until(lambda: not self.differences(), 120, "vurti to see the fleet")
