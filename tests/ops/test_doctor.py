"""`vurti doctor` against a running deployment: all OK, then beat stops and it says so."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.ops.conftest import OpsStack
from tests.support.procs import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vurti.cli.main", "doctor", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def _compose_health_checks_pass(env: dict[str, str]) -> None:
    """docker/compose.yaml's health checks of the workers and beat, run against this deployment
    (its workers are named fetch@ and update@ this host, as in the compose file)."""
    services = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())["services"]
    for name in ("fetch-worker", "update-worker", "beat"):
        kind, *test = services[name]["healthcheck"]["test"]
        command = test[0] if kind == "CMD-SHELL" else shlex.join(test)
        command = command.replace("$$HOSTNAME", socket.gethostname())
        command = re.sub(r"^celery ", f"{sys.executable} -m celery ", command)
        command = re.sub(r"^vurti ", f"{sys.executable} -m vurti.cli.main ", command)
        out = subprocess.run(command, shell=True, env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, f"{name}: {command}\n{out.stdout}{out.stderr}"


def test_doctor_reports_a_healthy_deployment_then_a_stopped_beat(ops_stack: OpsStack) -> None:
    env = dict(ops_stack.local.env)
    out = _doctor(env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines and all(line.startswith(("OK ", "WARN ")) for line in lines), out.stdout
    names = [c["name"] for c in json.loads(_doctor(env, "--json").stdout)]
    assert len(names) == len(lines)
    for expected in ("configuration", "redis", "database", "workers", "beat", "queues", "hosts overdue",
                     "certificates", "outbox", "host commands"):
        assert expected in names
    assert "no persistence" in out.stdout  # the test's redis-server runs without: a warning, not a failure
    assert ops_stack.redis_password not in out.stdout + out.stderr

    _compose_health_checks_pass(env)

    beat = next(c for c in ops_stack.local.children if c.name == "beat")
    ops_stack.local.stop(beat)

    def beat_reported() -> dict[str, dict[str, str]] | None:
        result = _doctor(env, "--json")
        checks = {c["name"]: c for c in json.loads(result.stdout)}
        return checks if result.returncode == 1 and checks["beat"]["level"] == "FAIL" else None

    checks = wait_for(beat_reported, timeout=60, interval=1.0, what="doctor to see beat gone")
    assert isinstance(checks, dict)
    assert "celery -A tasks beat" in checks["beat"]["message"]
    assert checks["workers"]["level"] == "OK"


def test_doctor_says_what_to_do_about_a_missing_or_empty_database(ops_stack: OpsStack, tmp_path: Path) -> None:
    env = {**ops_stack.local.env, "VURTI_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    out = _doctor(env)
    assert out.returncode == 1
    assert "FAIL database: not reachable (FileNotFoundError)" in out.stdout
    assert not (tmp_path / "empty.db").exists()  # looking does not create it
    (tmp_path / "empty.db").touch()
    out = _doctor(env)
    assert out.returncode == 1
    assert "FAIL database: reachable but empty: run `vurti db upgrade`" in out.stdout
