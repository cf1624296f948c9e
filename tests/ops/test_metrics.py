"""Prometheus scrapes `vurti metrics` during an end-to-end run; the series come back
through Prometheus's own HTTP API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.ops.conftest import HOSTS, OpsStack
from tests.support.procs import free_port, port_open, stop, wait_for


def _prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.fail("prometheus missing: scripts/setup.sh --postgres installs Debian's prometheus")
    host_port = target.split("//", 1)[1].split("/", 1)[0]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: vurti\n    static_configs:\n      - targets: ['{host_port}']\n"
    )
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(
        [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    wait_for(lambda: port_open(port), timeout=30, what="prometheus")
    return proc, f"http://127.0.0.1:{port}"


def _query(base: str, expr: str) -> list[dict[str, object]]:
    reply = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert reply["status"] == "success", reply
    return list(reply["data"]["result"])


def _value(base: str, expr: str) -> float | None:
    result = _query(base, expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


def test_prometheus_scrapes_vurti_during_a_run(ops_stack: OpsStack, tmp_path: Path) -> None:
    proc, prom = _prometheus(tmp_path, ops_stack.metrics_url)
    try:
        wait_for(lambda: _value(prom, 'up{job="vurti"}') == 1, timeout=60, interval=0.5, what="vurti scraped")
        wait_for(lambda: _value(prom, 'vurti_hosts{status="Up"}') == HOSTS, timeout=30, interval=0.5,
                 what="hosts by status")
        wait_for(lambda: (_value(prom, "sum(vurti_vms)") or 0) >= HOSTS * 3, timeout=30, interval=0.5,
                 what="VMs by status")
        # Worker series: counters from the fetch worker's threads and the update worker (multiprocess mode).
        wait_for(lambda: (_value(prom, "sum(rate(vurti_polls_total[5s]))") or 0) > 0.5, timeout=60, interval=0.5,
                 what="polls per second")
        wait_for(lambda: (_value(prom, "sum(vurti_detection_latency_seconds_count)") or 0) > 0, timeout=60,
                 interval=0.5, what="detection latency observed")
        p90 = _value(prom, "histogram_quantile(0.9, sum(rate(vurti_poll_lag_seconds_bucket[10s])) by (le))")
        assert p90 is not None and 0 <= p90 < 5, p90
        queues = {r["metric"]["queue"] for r in _query(prom, "vurti_queue_depth")}  # type: ignore[index]
        # The shared queues, and the fetch worker's own (where beat sends the polls of its hosts).
        assert {"fetch", "update"} < queues and any(q.endswith(".dq2") for q in queues), queues
        assert _value(prom, "vurti_hosts_overdue") == 0
        assert _value(prom, "vurti_exporter_read_ok") == 1
    finally:
        stop(proc)
