"""A worker or beat that exits by itself is started again (LocalStack.revive: `vurti run`'s
supervision, and the fault suite's), and one that was stopped on purpose is not.

Real processes: redis-server, a SQLite database, a fetch worker and beat.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import wait_for
from vurti.stack import LocalStack
from vurti.store.db import upgrade


@pytest.fixture()
def local() -> Iterator[LocalStack]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-revive-"))
    with LocalStack(workdir, {"VURTI_DATABASE_URL": f"sqlite:///{workdir / 'vurti.db'}"}) as stack:
        stack.start_redis()
        upgrade(stack.env["VURTI_DATABASE_URL"])
        yield stack


def test_what_exited_by_itself_is_started_again_and_named(local: LocalStack) -> None:
    fetch = local.start_worker("fetch", "fetch", pool="threads", concurrency=2)
    beat = local.start_beat()
    assert local.revive() == []  # all alive: nothing to do

    os.kill(fetch.proc.pid, signal.SIGKILL)
    os.kill(beat.proc.pid, signal.SIGKILL)
    wait_for(lambda: not fetch.alive() and not beat.alive(), timeout=30, what="both gone")

    revived = dict(local.revive())
    assert revived == {"fetch": -signal.SIGKILL, "beat": -signal.SIGKILL}
    again = {c.name: c for c in local.children if c.name in ("fetch", "beat")}
    assert set(again) == {"fetch", "beat"}
    assert again["fetch"].proc.pid != fetch.proc.pid and again["fetch"].alive()
    assert again["beat"].proc.pid != beat.proc.pid and again["beat"].alive()
    assert b"ready." in again["fetch"].log_path.read_bytes()  # start_worker waited for it


def test_a_stopped_child_is_not_started_again(local: LocalStack) -> None:
    beat = local.start_beat()
    local.stop(beat)
    assert local.revive() == []
    assert all(c.name != "beat" for c in local.children)
