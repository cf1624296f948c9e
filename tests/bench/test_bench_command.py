"""`vurti bench` end to end on a tiny fleet: figures recorded, and nothing left behind when stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.ops.test_run import _processes_in
from tests.support.procs import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VURTI_")}
    env["COLUMNS"] = "200"
    return env


def _reap(proc: subprocess.Popen[bytes], workdir: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    for pid in _processes_in(workdir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_short_run_records_its_figures_as_json_and_a_markdown_row(tmp_path: Path) -> None:
    workdir, results, md = tmp_path / "work", tmp_path / "results", tmp_path / "bench.md"
    md.write_text("| header |\n")
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vurti.cli.main", "bench", "--hosts", "4", "--vms-per-host", "2",
             "--seconds", "4", "--interval", "0.5", "--probes-per-s", "1", "--bare-seconds", "1",
             "--workdir", str(workdir), "--results-dir", str(results), "--markdown", str(md)],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT,
        )
    try:
        assert proc.wait(timeout=240) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        _reap(proc, workdir)
    (path,) = results.glob("*.json")
    result = json.loads(path.read_text())
    assert result["config"]["hosts"] == 4
    quiet, _probe = result["windows"]
    assert quiet["polls"]["achieved_per_s"] > 0 and quiet["polls"]["scheduled_per_s"] == 8.0
    assert quiet["polls"]["lag_s"]["p99"] is not None
    assert set(quiet["cpu_s_per_1000_host_cycles"]) >= {"worker-fetch", "worker-update", "beat", "redis", "simulator"}
    assert result["bare"]["polls_per_s"] > 0 and result["ratio_to_bare"] > 0
    text = md.read_text()
    assert text.startswith("| header |\n") and "## Results" in text  # a results table added to the page
    assert text.rstrip().splitlines()[-1].count("| 4 x 2 |") == 1  # and this run's row at its end
    wait_for(lambda: _processes_in(workdir) == [], timeout=10, what="no process left behind")


def test_sigterm_stops_every_process_it_started(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vurti.cli.main", "bench", "--hosts", "3", "--vms-per-host", "1",
             "--seconds", "600", "--interval", "0.5", "--workdir", str(workdir), "--markdown", ""],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT,
        )
    try:
        wait_for((workdir / "beat.log").exists, timeout=120, what="beat started")
        assert len(_processes_in(workdir)) >= 5  # two redis-servers, simulator, workers, beat
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143, log.read_text(errors="replace")[-2000:]
    finally:
        _reap(proc, workdir)
    wait_for(lambda: _processes_in(workdir) == [], timeout=10, what="no process left behind")
