"""The Celery wiring in eager mode: chain, skip-if-running, the per-host lock, manual refresh.

Real redis-server, SQLite and the simulator; only Celery's transport is replaced
by eager execution.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.signals import task_prerun

from tasks import app
from tasks.monitoring import fetch_host, fetch_hosts, refresh_host, update_host, update_hosts
from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim
from vurti.bootstrap import Services, set_services
from vurti.config import Settings
from vurti.domain.report import HostReport
from vurti.domain.status import HostStatus, VmStatus
from vurti.inventory import add_hosts
from vurti.runtime import keys
from vurti.runtime.schedule import phase
from vurti.sim.registration import fleet_hosts
from vurti.sim.wire import STATS_PERIOD
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


def test_a_pushed_event_that_waits_for_its_hosts_lock_holds_it_under_its_message(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed worker's hold is taken over by its message's redelivery (runtime/locking.py) only
    if the hold names the message: the wait of a pushed event for its host's lock too. A hold
    without it stayed until its TTL (30 s), and every event of that host waited 5 s for it."""
    host = svc.resolve_host("host-0002")
    event = HostReport(host_id=host.id, fetched_at=time.time(), vms=(), partial=True)
    owners: list[str | None] = []
    hold = svc.locks.hold

    def spy(host_id: str, blocking_timeout: float | None = None, owner: str | None = None) -> Any:
        owners.append(owner)
        return hold(host_id, blocking_timeout=blocking_timeout, owner=owner)

    monkeypatch.setattr(svc.locks, "hold", spy)
    with svc.locks.hold_many([host.id], owner="another message"):  # the batch finds the host busy
        waiter = threading.Thread(target=svc.update.update_many, args=([event],), kwargs={"owner": "m-1"})
        waiter.start()
        wait_for(lambda: owners, 10, what="the event's wait for its host's lock")
    waiter.join(10)
    assert not waiter.is_alive() and owners == ["m-1"]


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


def test_a_refresh_overtaken_by_a_newer_poll_polls_again(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A periodic poll fetched after the refresh's, applied first: the refresh polls again rather than fail."""
    real = svc.fetch.fetch_many
    polls: list[str] = []

    def overtaken(batch: Any, force: bool = False) -> Any:
        outcomes = real(batch, force=force)
        polls.append("refresh")
        if len(polls) == 1:
            (newer,) = real(batch, force=True)
            assert newer.report is not None and svc.update.update(newer.report).applied
        return outcomes

    monkeypatch.setattr(svc.fetch, "fetch_many", overtaken)
    result = refresh_host.delay("host-0002").get(timeout=30)
    assert polls == ["refresh", "refresh"]
    assert result["applied"] is True and result["status"] == "Up"


def test_a_batch_fetch_sends_one_update_message_for_its_changed_hosts(svc: Services, ran: list[str]) -> None:
    ids = [svc.resolve_host(n).id for n in ("host-0001", "host-0002")]
    fetch_hosts.delay([[h, None] for h in ids])
    assert ran == ["vurti.fetch_hosts", "vurti.update_hosts"]
    assert _status(svc, "host-0001") is HostStatus.Up and _status(svc, "host-0002") is HostStatus.Up


def test_a_batch_update_skips_locked_and_malformed_reports_and_applies_the_rest(svc: Services) -> None:
    one, two = (svc.resolve_host(n).id for n in ("host-0001", "host-0002"))
    first, second = svc.fetch.fetch_many([(one, None), (two, None)], force=True)
    with svc.locks.hold(one):
        update_hosts.delay([first.report.to_json(), {"host_id": 5}, second.report.to_json()])
    assert _status(svc, "host-0001") is HostStatus.Unassigned  # locked elsewhere: skipped, not waited for
    assert _status(svc, "host-0002") is HostStatus.Up
    update_hosts.delay("not a list")  # dropped with an error, nothing raised
    update_hosts.delay([first.report.to_json()])
    assert _status(svc, "host-0001") is HostStatus.Up


def test_a_batch_update_goes_on_past_a_report_that_fails(svc: Services) -> None:
    from vurti.pipeline.update import UpdateService

    one, two = (svc.resolve_host(n).id for n in ("host-0001", "host-0002"))
    first, second = svc.fetch.fetch_many([(one, None), (two, None)], force=True)
    opened: list[int] = []

    def failing_first_time() -> Any:
        opened.append(1)
        if len(opened) <= 2:  # the batch's transaction, then the first host's on its own
            raise RuntimeError("database went away")
        return svc.uow()

    service = UpdateService(failing_first_time, svc.locks, svc.bus, svc.cache, svc.settings.policy, svc.clock)
    outcomes = service.update_many([first.report, second.report])
    assert [(o.host_id, o.applied, o.reason) for o in outcomes] == [(one, False, "internal error"), (two, True, None)]
    assert _status(svc, "host-0001") is HostStatus.Unassigned and _status(svc, "host-0002") is HostStatus.Up
    assert svc.redis.hget(keys.host_cache(two), "status") == str(int(HostStatus.Up)).encode()  # cache refreshed
    assert not svc.redis.exists(keys.host_lock(one), keys.host_lock(two))  # both locks released


def test_a_batch_update_does_not_write_after_its_leases_ran_out(svc: Services) -> None:
    from vurti.pipeline.update import UpdateService
    from vurti.runtime.locking import HostLocks

    one = svc.resolve_host("host-0001").id
    (outcome,) = svc.fetch.fetch_many([(one, None)], force=True)
    ticks = iter(range(0, 1000, 10))  # each look at the clock is 10 s later: leases expire before use
    short = HostLocks(svc.redis, ttl=5, clock=lambda: float(next(ticks)))
    service = UpdateService(svc.uow, short, svc.bus, svc.cache, svc.settings.policy, svc.clock)
    (result,) = service.update_many([outcome.report])
    assert not result.applied and result.reason == "lock expired before its turn in the batch"
    assert _status(svc, "host-0001") is HostStatus.Unassigned


def test_a_batch_with_down_records_queues_one_command_sender(svc: Services, sim: SimProcess, ran: list[str]) -> None:
    ids = [svc.resolve_host(n).id for n in ("host-0001", "host-0002")]
    batch = [[h, None] for h in ids]
    fetch_hosts.delay(batch)  # Up
    fetch_hosts.delay(batch)  # VMs known
    for name in ("host-0001", "host-0002"):  # a crash on each host: a Down record, a destroy per host
        sim.control.crash(sim.control.vms(name)[0]["vm_id"])
    ran.clear()
    reports = [o.report.to_json() for o in svc.fetch.fetch_many([(h, None) for h in ids], force=True)]
    update_hosts.delay(reports)
    assert ran == ["vurti.update_hosts", "vurti.send_commands"]  # one sender for both hosts' commands
    assert len(sim.control.destroys()) == 2


def test_a_batch_update_loads_and_writes_its_hosts_together(svc: Services, sim: SimProcess) -> None:
    from vurti.store.instrument import StatementCounter

    ids = [svc.resolve_host(n).id for n in ("host-0001", "host-0002")]
    batch = [[h, None] for h in ids]
    fetch_hosts.delay(batch)  # Up
    fetch_hosts.delay(batch)  # VMs known
    paused = [sim.control.vms(name)[0]["vm_id"] for name in ("host-0001", "host-0002")]
    for vm_id in paused:
        sim.control.pause(vm_id)
    reports = [o.report for o in svc.fetch.fetch_many([(h, None) for h in ids], force=True)]
    with StatementCounter(svc.engine) as sql:
        outcomes = svc.update.update_many(reports)
    assert [o.applied for o in outcomes] == [True, True]
    assert all(any("Paused" in line for line in o.changes) for o in outcomes)
    assert len([s for s in sql.of("SELECT") if "FROM vds_static" in s.sql]) == 1  # one load for both hosts
    (fence,) = [s for s in sql.of("UPDATE") if "vds_dynamic" in s.sql]
    assert fence.rows == 2  # both hosts fenced by one executemany
    with svc.uow() as uow:
        assert {uow.vms.get_vm(v).status for v in paused} == {VmStatus.Paused}  # type: ignore[union-attr]


def test_a_batch_whose_hosts_share_a_vm_is_applied_one_host_at_a_time(
    svc: Services, sim: SimProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two ends of a migration in one batch: the second analysis must see the first one's write."""
    import vurti.pipeline.update as update_module

    together: list[object] = []
    real = update_module.apply_analyses

    def spy(*args: Any) -> Any:
        together.append(result := real(*args))
        return result

    monkeypatch.setattr(update_module, "apply_analyses", spy)
    ids = [svc.resolve_host(n).id for n in ("host-0001", "host-0002")]
    batch = [[h, None] for h in ids]
    fetch_hosts.delay(batch)  # Up
    fetch_hosts.delay(batch)  # VMs known
    vm_id = sim.control.vms("host-0001")[0]["vm_id"]
    sim.control.migrate(vm_id, to="host-0002", steps=5)
    reports = [o.report for o in svc.fetch.fetch_many([(h, None) for h in ids], force=True)]
    assert all(any(vm.vm_id == vm_id for vm in r.vms or ()) for r in reports)  # both ends report it
    together.clear()
    outcomes = svc.update.update_many(reports)
    assert together == [None]  # refused together, then applied one by one
    assert [o.applied for o in outcomes] == [True, True]
    with svc.uow() as uow:
        vm = uow.vms.get_vm(vm_id)
    assert vm is not None and vm.status is VmStatus.MigratingFrom and vm.migrating_to_host == ids[1]


def test_nic_rates_come_from_the_counters_of_two_statistics_polls(svc: Services, sim: SimProcess) -> None:
    """The simulator sends what VDSM sends: byte counters and sampleTime, no rates."""
    svc.refresh("host-0001")  # a statistics poll: the first counters
    time.sleep(1.2)  # VM counters grow with the VM's elapsed seconds
    sim.control.tick(STATS_PERIOD)  # the agent takes its next VM sample
    svc.refresh("host-0001")
    host = svc.resolve_host("host-0001")
    with svc.uow() as uow:
        host_stats = uow.hosts.get_host_stats(host.id)
        vm_nics = [nic for vm in uow.vms.list_vms(host.id)
                   for nic in (uow.vms.get_vm_stats(vm.vm_id) or (0, None))[1].nics]
    assert host_stats is not None
    assert all(nic.rx_rate is not None and nic.rx_rate > 0 for nic in host_stats[1].nics if nic.name == "eno1")
    assert vm_nics and all(nic.rx_rate is not None and nic.rx_rate > 0 for nic in vm_nics)


def test_destroy_lines_name_the_vm_and_the_host(svc: Services, sim: SimProcess) -> None:
    svc.refresh("host-0001")  # Up, its VMs known
    vm_id = sim.control.vms("host-0001")[0]["vm_id"]
    sim.control.crash(vm_id)
    svc.refresh("host-0001")  # the Down recorded, then VM.destroy sent
    with svc.uow() as uow:
        name = uow.vms.get_vm(vm_id).name
        lines = [line.message for line in uow.audit.recent(limit=50) if line.event_type == "VmDestroyed"]
    assert name and lines == [f"VM {name} record destroyed on host host-0001 (down recorded)"]
