"""The Celery wiring in eager mode: chain, skip-if-running, the per-host lock, manual refresh.

Real redis-server, SQLite and the simulator; only Celery's transport is replaced
by eager execution.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.signals import task_prerun

from tasks import app
from tasks.monitoring import fetch_host, refresh_host, update_host
from tests.support.sim import SimProcess, running_sim
from vurti.bootstrap import Services, set_services
from vurti.config import Settings
from vurti.domain.status import HostStatus
from vurti.inventory import add_hosts
from vurti.runtime import keys
from vurti.runtime.schedule import phase
from vurti.sim.registration import fleet_hosts
from vurti.store.db import upgrade


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=3, seed=3) as s:
        yield s


@pytest.fixture()
def svc(tmp_path: Path, redis_url: str, sim: SimProcess) -> Iterator[Services]:
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings.from_env({"VURTI_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "VURTI_REDIS_URL": redis_url})
    upgrade(settings.database_url)
    services = Services(settings)
    add_hosts(services, fleet_hosts(sim.base_url))
    set_services(services)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield services
    app.conf.task_always_eager = False
    set_services(None)
    services.redis.close()
    services.engine.dispose()


@pytest.fixture()
def ran() -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender: Any = None, **_: Any) -> None:
        names.append(sender.name)

    task_prerun.connect(record, weak=False)
    yield names
    task_prerun.disconnect(record)


def _status(svc: Services, name: str) -> HostStatus:
    host = svc.resolve_host(name)
    with svc.uow() as uow:
        return uow.hosts.get_host_state(host.id).status


def test_fetch_chains_into_update_and_skips_unchanged_polls(svc: Services, ran: list[str]) -> None:
    host = svc.resolve_host("host-0001")
    fetch_host.delay(host.id)
    assert ran == ["vurti.fetch_host", "vurti.update_host"]
    assert _status(svc, "host-0001") is HostStatus.Up
    fetch_host.delay(host.id)  # the first poll as an Up host brings the VMs
    every = svc.settings.policy.stats_every
    offset = int(phase(host.id, every))
    while (int(svc.redis.hget(keys.host_cache(host.id), "cycle")) + offset) % every == 0:
        fetch_host.delay(host.id)  # a statistics cycle always writes; move past it
    ran.clear()
    fetch_host.delay(host.id)  # steady state: short list, same digest, no statistics due
    assert ran == ["vurti.fetch_host"]


def test_fetch_of_a_host_whose_fetch_is_running_is_skipped(svc: Services, ran: list[str]) -> None:
    from vurti.runtime import keys

    host = svc.resolve_host("host-0001")
    assert svc.redis.set(keys.host_fetching(host.id), "someone-else", nx=True, ex=30)  # a fetch in progress
    fetch_host.delay(host.id)
    assert ran == ["vurti.fetch_host"]
    assert _status(svc, "host-0001") is HostStatus.Unassigned


def test_update_of_a_locked_host_is_skipped_and_writes_nothing(svc: Services) -> None:
    host = svc.resolve_host("host-0002")
    (outcome,) = svc.fetch.fetch_many([(host.id, None)], force=True)
    with svc.locks.hold(host.id):
        update_host.delay(outcome.report.to_json())
        assert _status(svc, "host-0002") is HostStatus.Unassigned
    update_host.delay(outcome.report.to_json())
    assert _status(svc, "host-0002") is HostStatus.Up


def test_malformed_report_message_is_dropped_without_raising(svc: Services) -> None:
    update_host.delay({"host_id": 5, "fetched_at": "yesterday"})
    assert _status(svc, "host-0001") is HostStatus.Unassigned


def test_manual_refresh_returns_what_changed(svc: Services) -> None:
    result = refresh_host.delay("host-0002").get(timeout=30)
    assert result["applied"] is True and result["status"] == "Up"
    assert any("Unassigned to Up" in line for line in result["changes"])
    again = refresh_host.delay("host-0002").get(timeout=30)
    assert again["status"] == "Up" and not any("status changed" in line for line in again["changes"])
    missing = refresh_host.delay("no-such-host").get(timeout=30)
    assert missing["applied"] is False and missing["reason"] == "no such host"
