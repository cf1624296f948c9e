"""docker/ checked without a Docker engine (none runs here): the compose file parses, runs
only commands the end-to-end tests run, sets only variables vurti/config.py reads, declares
each port and volume once; the Prometheus rules and the dashboard use series vurti exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import SIM_EXTRA
from vurti.stack import beat_command, flower_command, metrics_command, sim_command, upgrade_command, worker_command

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
VURTI_IMAGE = "vurti:local"
CATEGORICAL = {"-A", "-Q", "-P", "-l"}  # option values that must match the tests' exactly


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _vurti_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == VURTI_IMAGE}


def _shape(argv: list[str]) -> tuple[tuple[str, ...], frozenset[str], frozenset[tuple[str, str]]]:
    """Command words, option names, and the values of categorical options."""
    argv = ["vurti" if a == "vurti.cli.main" else a for a in argv]
    words = []
    for a in argv:
        if a.startswith("-"):
            break
        words.append(a)
    options = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    values = {(a, argv[i + 1]) for i, a in enumerate(argv[:-1]) if a in CATEGORICAL}
    if "-A" in options:  # celery -A tasks <subcommand>: the subcommand is a word too
        words.append(argv[argv.index("-A") + 2])
    return tuple(words), frozenset(options), frozenset(values)


def _tested_commands() -> list[list[str]]:
    """Every command line the end-to-end tests start (vurti.stack builds them all)."""
    return [
        worker_command("fetch", "fetch", "threads", 8),
        worker_command("update", "update", "prefork", 2),
        worker_command("update", "update", "solo", 1),
        beat_command("/tmp/schedule"),
        flower_command("127.0.0.1", 5555),
        metrics_command("127.0.0.1", 9108),
        upgrade_command(),
        sim_command(3, 3, 0, 11, 8700, SIM_EXTRA),
    ]


def test_every_service_runs_a_command_the_end_to_end_tests_run(compose: dict[str, Any]) -> None:
    tested = [_shape(c) for c in _tested_commands()]
    services = _vurti_services(compose)
    assert set(services) == {"migrate", "fetch-worker", "update-worker", "beat", "flower", "metrics", "sim"}
    for name, service in services.items():
        words, options, values = _shape(service["command"])
        matches = [t for t in tested if t[0] == words and options <= t[1] and values <= t[2]]
        assert matches, f"{name}: {service['command']} is not a command the end-to-end tests run"


def test_every_variable_set_is_one_config_reads(compose: dict[str, Any]) -> None:
    read = set(re.findall(r'"((?:VURTI|PROMETHEUS)_[A-Z_]+)"', (ROOT / "vurti/config.py").read_text()))
    for name, service in _vurti_services(compose).items():
        unknown = set(service["environment"]) - read
        assert not unknown, f"{name} sets {unknown}, which vurti/config.py never reads"


def test_health_checks_restart_policies_ports_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("unless-stopped", "no"), f"{name} has no restart policy"
    assert services["migrate"]["restart"] == "no"
    published = [p.rsplit(":", 1)[0] for s in services.values() for p in s.get("ports", [])]
    assert len(published) == len(set(published)), published
    assert all(p.startswith("127.0.0.1:") for p in published)  # nothing published beyond this machine
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        targets = [v.split(":")[1] for v in service.get("volumes", [])]
        assert len(targets) == len(set(targets)), f"{name} mounts a path twice"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
            else:
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
    assert used == declared, f"declared but unused: {declared - used}"
    for data in ("redis", "postgres", "prometheus"):
        assert any(v.startswith(f"{data}-data:") for v in services[data]["volumes"]), data
    assert services["sim"]["profiles"] == ["demo"]


def test_secrets_come_from_an_uncommitted_env_file(compose: dict[str, Any]) -> None:
    text = (DOCKER / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = {line.split("=", 1)[0] for line in (DOCKER / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert required and required <= example, required - example
    assert "docker/.env" in (ROOT / ".gitignore").read_text().splitlines()
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or "AUTH" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", str(value)), f"{name}: {key} is not from docker/.env"
            if key.endswith("_URL") and "@" in str(value):  # user:password@host
                assert re.search(r":\$\{[A-Z_]+:\?[^}]*\}@", str(value)), f"{name}: {key} holds a literal password"
    redis_cmd = " ".join(compose["services"]["redis"]["command"])
    assert "requirepass" in redis_cmd and "--requirepass" not in redis_cmd  # never on a command line


def test_dockerfile_one_non_root_image_with_the_pinned_requirements() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    for source in re.findall(r"^COPY (.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path


def _exported_series() -> set[str]:
    """Every series name `vurti metrics` can serve (fleet gauges, worker counters and histograms)."""
    from prometheus_client import REGISTRY, generate_latest

    import vurti.metrics.worker  # noqa: F401 - registers the worker metrics in the default registry
    from vurti.metrics.exporter import build_registry
    from vurti.metrics.fleet_state import FleetState

    state = FleetState({"Up": 1}, {"Up": 1}, {"fetch": 0, "update": 0}, 1, 0, 0.0, {"AuditLog": 0},
                       {"AuditLog": 0.0}, {"done": 0})
    text = generate_latest(build_registry(lambda: state, None)).decode() + generate_latest(REGISTRY).decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for line in text.splitlines():  # a labelled counter with no samples yet shows only in its TYPE line
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names |= {name, f"{name}_total"} if kind == "counter" else {name}
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {n for n in names if n.startswith("vurti_")}


def test_dashboard_and_alerts_use_series_vurti_exports() -> None:
    exported = _exported_series()
    dashboard = json.loads((DOCKER / "grafana/vurti-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in yaml.safe_load((DOCKER / "prometheus/alerts.yml").read_text())["groups"]
              for r in g["rules"]]
    used = {n for e in exprs for n in re.findall(r"\bvurti_[a-z_]+", e)}
    assert used and used <= exported, used - exported
    for series in ("vurti_hosts", "vurti_vms", "vurti_polls_total", "vurti_poll_lag_seconds_bucket",
                   "vurti_detection_latency_seconds_bucket", "vurti_update_duration_seconds_bucket",
                   "vurti_lock_contention_total", "vurti_queue_depth", "vurti_fetch_errors_total",
                   "vurti_host_commands", "vurti_outbox_pending"):
        assert series in used, f"the dashboard does not show {series}"


def test_prometheus_config_and_alert_rules_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: scripts/setup.sh --postgres installs Debian's prometheus")
    rules = DOCKER / "prometheus/alerts.yml"
    config = (DOCKER / "prometheus/prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", str(rules))
    (tmp_path / "prometheus.yml").write_text(config)
    for args in (["check", "config", str(tmp_path / "prometheus.yml")], ["check", "rules", str(rules)]):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=DOCKER / "prometheus",
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
