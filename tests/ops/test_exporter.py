"""The fleet collector on literal states: what a scrape shows, and a scrape while a store is down."""

from __future__ import annotations

import subprocess
import sys

from prometheus_client import generate_latest

from vurti.metrics.exporter import build_registry
from vurti.metrics.fleet_state import FleetState


def test_a_scrape_shows_the_fleet_state() -> None:
    state = FleetState(hosts_by_status={"Up": 3, "NonResponsive": 1}, queue_depths={"fetch": 2, "update": 0},
                       outbox_pending={"LiveFeed": 4}, outbox_oldest_seconds={"LiveFeed": 12.5},
                       commands_by_state={"done": 7, "failed": 1}, hosts_overdue=2)
    text = generate_latest(build_registry(lambda: state, None)).decode()
    for line in ('vurti_hosts{status="NonResponsive"} 1.0', 'vurti_queue_depth{queue="fetch"} 2.0',
                 'vurti_outbox_pending{subscriber="LiveFeed"} 4.0', 'vurti_host_commands{state="failed"} 1.0',
                 "vurti_hosts_overdue 2.0", "vurti_exporter_read_ok 1.0"):
        assert line in text.splitlines(), line


def test_a_scrape_while_redis_or_the_database_is_down_says_so() -> None:
    def down() -> FleetState:
        raise ConnectionError("redis is down")

    text = generate_latest(build_registry(down, None)).decode()
    assert "vurti_exporter_read_ok 0.0" in text.splitlines()
    assert "vurti_hosts{" not in text


def test_flower_never_starts_without_a_login() -> None:
    env = {"PATH": "/usr/bin:/bin", "VURTI_DATABASE_URL": "sqlite:///:memory:"}
    out = subprocess.run([sys.executable, "-m", "vurti.cli.main", "flower", "--port", "1"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode != 0
    assert "VURTI_FLOWER_AUTH" in out.stderr


def test_the_fetch_workers_own_queues_count_as_fetch_work(tmp_path, client) -> None:  # type: ignore[no-untyped-def]
    import time

    import sqlalchemy as sa
    from celery.utils.nodenames import worker_direct

    from vurti.metrics.fleet_state import read_fleet
    from vurti.runtime.members import Members
    from vurti.store.db import upgrade

    url = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade(url)
    now = time.time()
    Members(client).heartbeat("fetch1@a", now)
    client.rpush(worker_direct("fetch1@a").name, "m1", "m2")
    client.rpush("fetch", "m3")
    engine = sa.create_engine(url)
    try:
        state = read_fleet(engine, client, now, 3.0)
    finally:
        engine.dispose()
    assert state.fetch_members == 1
    assert state.queue_depths["fetch"] == 3 and state.queue_depths["fetch1@a.dq2"] == 2
