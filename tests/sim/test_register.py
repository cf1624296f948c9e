"""`vurti sim --register` writes the served hosts into vurti's database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis

from tests.support.procs import free_port, stop, wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.sim.control_client import ControlClient
from vurti.store.db import upgrade


def test_register_adds_every_simulated_host(tmp_path: Path, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    env = {"VURTI_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "VURTI_REDIS_URL": redis_url}
    upgrade(env["VURTI_DATABASE_URL"])
    port = free_port()
    log = tmp_path / "sim.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vurti.cli.main", "sim", "--hosts", "3", "--vms-per-host", "2",
             "--port", str(port), "--agent-port", "0", "--register"],
            env={**env, "PATH": "/usr/bin:/bin"}, stdout=out, stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    svc = Services(Settings.from_env(env))
    try:
        wait_for(lambda: "registered" in log.read_text() or "registration failed" in log.read_text(), timeout=30,
                 what="registration")
        assert "registered 3 hosts" in log.read_text(), log.read_text()
        addresses = {h["name"]: h["address"] for h in ControlClient(f"http://127.0.0.1:{port}").hosts()}
        with svc.uow() as uow:
            hosts = uow.hosts.list_hosts()
        assert sorted(c.name for c, _ in hosts) == ["host-0001", "host-0002", "host-0003"]
        assert all(addresses[c.name].startswith(f"stomp://127.1.0.{c.name[-1]}:") for c, _ in hosts)
        assert all(c.url.rstrip("/") == addresses[c.name] for c, _ in hosts)
        assert len(svc.schedule.scheduled()) == 3
    finally:
        stop(proc)
        svc.engine.dispose()
