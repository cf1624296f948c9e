"""The logs of an end-to-end run in JSON lines: lines about a host name it, and no
configured password appears anywhere in any process's log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.ops.conftest import OpsStack
from tests.support.procs import wait_for

OPS_ENV = {"VURTI_LOG_FORMAT": "json"}
ROOT = Path(__file__).resolve().parents[2]


def _json_lines(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_json_logs_name_hosts_and_hold_no_secret(ops_stack: OpsStack) -> None:
    local, name = ops_stack.local, ops_stack.host_names[2]
    host_id = ops_stack.svc.resolve_host(name).id
    # Activity that logs: a refresh through Flower's API, the CLI with -vv, a broken host.
    sent = requests.post(f"{ops_stack.flower_url}/api/task/async-apply/vurti.refresh_host",
                         json={"args": [name]}, auth=ops_stack.flower_auth, timeout=10)
    assert sent.status_code == 200
    for args in (["-vv", "hosts"], ["-vv", "doctor"], ["-vv", "refresh", name]):
        with open(local.workdir / "cli.log", "ab") as out:
            subprocess.run([sys.executable, "-m", "vurti.cli.main", *args], env=local.env, cwd=ROOT, stdout=out,
                           stderr=subprocess.STDOUT, timeout=120, check=False)
    fetch_log = local.workdir / "fetch.log"

    def refreshed() -> dict[str, object] | None:
        for line in _json_lines(fetch_log):
            if "refreshed on request" in str(line["message"]) and line.get("host_id") == host_id:
                return line
        return None

    line = wait_for(refreshed, timeout=60, interval=0.5, what="the refresh's log line")
    assert isinstance(line, dict)
    assert line["host_name"] == name and f"{name} ({host_id})" in str(line["message"])
    assert line["level"] == "INFO" and line["logger"] == "tasks.monitoring"
    for log in ("fetch.log", "update.log", "beat.log"):
        lines = _json_lines(local.workdir / log)
        assert lines, f"{log} has no JSON line"
        for entry in lines:  # every vurti line carrying a host id names the host
            if str(entry["logger"]).startswith(("vurti", "tasks")) and host_id in str(entry["message"]):
                assert entry.get("host_name") == name, entry

    logs = sorted(local.workdir.glob("*.log"))
    assert {p.name for p in logs} >= {"redis.log", "sim.log", "fetch.log", "update.log", "beat.log", "flower.log",
                                      "metrics.log", "cli.log"}
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in ops_stack.secrets():
            assert secret not in text, f"a configured password is in {path.name}"
