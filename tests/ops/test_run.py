"""`vurti run`: the whole system from one command, stopped cleanly with nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.procs import free_port, wait_for


def _processes_in(workdir: Path) -> list[int]:
    """Pids of processes whose working directory is inside `workdir` (the stack runs its children there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(workdir)):
            found.append(int(entry.name))
    return found


def test_run_shows_a_live_fleet_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    log = tmp_path / "out.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VURTI_")}
    env["COLUMNS"] = "200"
    # A test run started in the background of a non-interactive shell ignores SIGINT and a child
    # inherits that; a handler set here is reset to the default in the child: Ctrl-C means Ctrl-C.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vurti.cli.main", "run", "--hosts", "3", "--vms-per-host", "2",
             "--churn", "0", "--workdir", str(workdir), "--flower-port", str(free_port()),
             "--metrics-port", str(free_port())],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).resolve().parents[2],
        )
    signal.signal(signal.SIGINT, before)
    try:
        wait_for(lambda: "Up: 3" in log.read_text(errors="replace"), timeout=90, what="three hosts Up in the summary")
        wait_for(lambda: "metrics on http://127.0.0.1:" in log.read_text(errors="replace"), timeout=60,
                 what="Flower and metrics")
        # redis, simulator, two workers, beat, Flower, metrics (and pool children)
        assert len(_processes_in(workdir)) >= 7
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")[-2000:]
    finally:
        if proc.poll() is None:  # a failed assertion: still stop the stack the clean way
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in _processes_in(workdir):  # never leave a process behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    assert "stopped" in text
    assert "Traceback" not in text
    wait_for(lambda: _processes_in(workdir) == [], timeout=10, what="no process left behind")
    assert (workdir / "vurti.db").exists()
    password = (workdir / "flower-password").read_text().strip()
    assert (workdir / "flower-password").stat().st_mode & 0o077 == 0  # only its owner reads it
    assert password not in text  # where it is, never what it is


def test_run_rejects_bad_arguments() -> None:
    out = subprocess.run([sys.executable, "-m", "vurti.cli.main", "run", "--hosts", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "--hosts" in out.stderr
