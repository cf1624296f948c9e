"""One real vurti deployment shared by the operations tests: redis-server with a password,
SQLite, the simulator, a fetch and an update worker sending task events and writing
Prometheus metrics, beat, Flower with basic auth, and `vurti metrics`. Each test module adds what it observes it with (a browser, Prometheus).

Module scope: every module gets its own processes, stopped when it ends.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import free_port, port_open, wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import HostStatus
from vurti.stack import PYTHON, LocalStack, Worker, update_worker, upgrade_command

HOSTS = 3
SIM_EXTRA = ("--tick-seconds", "0.5", "--register")
FLOWER_USER = "ops-admin"


@dataclass
class OpsStack:
    local: LocalStack
    svc: Services
    flower_url: str
    flower_password: str
    redis_password: str
    host_names: list[str]
    metrics_url: str
    sim_url: str

    @property
    def flower_auth(self) -> tuple[str, str]:
        return FLOWER_USER, self.flower_password

    def secrets(self) -> list[str]:
        """Every password and key the deployment was configured with: none may appear in a log
        (a private key by each line of its body)."""
        found = [self.flower_password, self.redis_password]
        key_file = self.svc.settings.agent.key_file
        if key_file:
            found += [line for line in Path(key_file).read_text().splitlines()
                      if line and not line.startswith("-----")]
        return found


def start_redis_with_password(local: LocalStack, password: str) -> str:
    """A redis-server that refuses clients without `password` (kept in a config file only its
    owner reads, not on a command line)."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server missing: run scripts/setup.sh"
    port = free_port()
    conf = local.workdir / "redis.conf"
    conf.write_text(f"bind 127.0.0.1\nport {port}\nsave \"\"\nappendonly no\nrequirepass {password}\n")
    conf.chmod(0o600)
    local.spawn("redis", [exe, str(conf)])
    wait_for(lambda: port_open(port), timeout=15, what="redis-server")
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    local.env["VURTI_REDIS_URL"] = url
    return url


@pytest.fixture(scope="module")
def ops_stack(request: pytest.FixtureRequest) -> Iterator[OpsStack]:
    """A module may set OPS_ENV (extra VURTI_* settings for every process, e.g. JSON logs)."""
    workdir = Path(tempfile.mkdtemp(prefix="vurti-ops-"))
    flower_password = "fl-" + secrets.token_hex(12)
    redis_password = "rd-" + secrets.token_hex(12)
    env = {
        "VURTI_DATABASE_URL": f"sqlite:///{workdir / 'vurti.db'}",
        "VURTI_REFRESH_INTERVAL": "1",
        "VURTI_FLOWER_AUTH": f"{FLOWER_USER}:{flower_password}",
        **getattr(request.module, "OPS_ENV", {}),
    }
    with LocalStack(workdir, env) as local:
        start_redis_with_password(local, redis_password)
        settings = Settings.from_env(local.env)
        svc = Services(settings)
        subprocess.run([*PYTHON, *upgrade_command()], env=local.env, check=True, timeout=120,
                       stdout=subprocess.DEVNULL)  # the command docker/compose.yaml's `migrate` runs
        # --register: the simulator adds its hosts itself, as docker/compose.yaml's demo runs it.
        sim_url = local.start_sim(HOSTS, 3, churn=0, seed=11, extra=SIM_EXTRA)

        def registered() -> bool:
            with svc.uow() as uow:
                return len(uow.hosts.list_hosts()) == HOSTS

        wait_for(registered, timeout=60, what="the simulator to register its hosts")
        local.enable_task_events()
        local.enable_worker_metrics()
        local.start_workers([Worker("fetch", "fetch", "threads", 4), update_worker(1)])
        local.start_beat()
        flower_url = local.start_flower(f"{FLOWER_USER}:{flower_password}")
        metrics_url = local.start_metrics()
        with svc.uow() as uow:
            names = sorted(config.name for config, _ in uow.hosts.list_hosts())

        def all_up() -> bool:
            with svc.uow() as uow:
                return all(state.status is HostStatus.Up for _, state in uow.hosts.list_hosts())

        wait_for(all_up, timeout=90, what="every host Up")
        try:
            yield OpsStack(local, svc, flower_url, flower_password, redis_password, names, metrics_url, sim_url)
        finally:
            svc.redis.close()
            svc.engine.dispose()
    shutil.rmtree(workdir, ignore_errors=True)
