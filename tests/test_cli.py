"""The `vurti` CLI against real redis, SQLite and the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from tests.support.sim import SimProcess, running_sim
from vurti.bootstrap import Services, set_services
from vurti.cli.main import _register, cli
from vurti.config import Settings
from vurti.store.db import upgrade

_register()


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=2, seed=9) as s:
        yield s


@pytest.fixture()
def runner(tmp_path: Path, redis_url: str) -> Iterator[CliRunner]:
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings.from_env({"VURTI_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "VURTI_REDIS_URL": redis_url})
    upgrade(settings.database_url)
    services = Services(settings)
    set_services(services)
    yield CliRunner()
    set_services(None)
    services.engine.dispose()


def test_add_refresh_list_and_remove_a_host(runner: CliRunner, sim: SimProcess) -> None:
    url = sim.host_url("host-0001")
    out = runner.invoke(cli, ["host", "add", "h1", url])
    assert out.exit_code == 0, out.output
    assert "added host h1" in out.output
    out = runner.invoke(cli, ["refresh", "h1"])
    assert out.exit_code == 0, out.output
    assert "h1: Up" in out.output and "Unassigned to Up" in out.output
    out = runner.invoke(cli, ["hosts", "--json"])
    (row,) = json.loads(out.output)
    assert (row["name"], row["status"]) == ("h1", "Up")
    out = runner.invoke(cli, ["vms", "--host", "h1", "--json"])
    assert [vm["host"] for vm in json.loads(out.output)] == ["h1", "h1"]  # the host's name, not its id
    out = runner.invoke(cli, ["events", "--json"])
    assert any("Unassigned to Up" in e["message"] for e in json.loads(out.output))


def test_bad_arguments_give_clear_errors(runner: CliRunner) -> None:
    out = runner.invoke(cli, ["host", "add", "h1", "ftp://x"])
    assert out.exit_code != 0 and "scheme 'ftp' is not stomps, stomp" in out.output
    out = runner.invoke(cli, ["refresh", "nope"])
    assert out.exit_code != 0 and "no such host" in out.output
    out = runner.invoke(cli, ["host", "remove", "nope"])
    assert out.exit_code != 0 and "no such host" in out.output
    out = runner.invoke(cli, ["events", "--limit", "0"])
    assert out.exit_code == 2


def test_bad_configuration_is_reported() -> None:
    set_services(None)
    out = CliRunner().invoke(cli, ["hosts"], env={"VURTI_REFRESH_INTERVAL": "fast"})
    assert out.exit_code != 0
    assert "VURTI_REFRESH_INTERVAL" in out.output


def test_cluster_settings_reach_the_schedule(runner: CliRunner, sim: SimProcess) -> None:
    out = runner.invoke(cli, ["cluster", "set", "fast", "--interval", "1.5", "--cpu-flags", "vmx, sse4_2"])
    assert out.exit_code == 0, out.output
    assert runner.invoke(cli, ["host", "add", "h1", sim.host_url("host-0001"), "--cluster", "fast"]).exit_code == 0
    from vurti.bootstrap import services

    svc = services()
    host_id = svc.resolve_host("h1").id
    assert svc.schedule.interval(host_id) == 1.5
    (row,) = json.loads(runner.invoke(cli, ["hosts", "--json"]).output)
    assert (row["cluster"], row["cluster_id"]) == ("fast", svc.resolve_host("h1").cluster_id)
    assert "fast" in runner.invoke(cli, ["hosts"]).output  # the table names the cluster
    out = runner.invoke(cli, ["cluster", "set", "fast", "--interval", "4"])
    assert out.exit_code == 0
    svc.sync_schedule(0.0)  # what beat does every two seconds
    assert svc.schedule.interval(host_id) == 4.0
    (row,) = json.loads(runner.invoke(cli, ["clusters", "--json"]).output)
    assert (row["name"], row["refresh_interval"], row["required_cpu_flags"]) == ("fast", 4.0, "vmx,sse4_2")
    assert runner.invoke(cli, ["cluster", "set", "fast", "--interval", "0"]).exit_code != 0


def test_db_upgrade_is_idempotent(runner: CliRunner) -> None:
    for _ in range(2):
        out = runner.invoke(cli, ["db", "upgrade"])
        assert out.exit_code == 0, out.output
        assert "up to date" in out.output


def test_events_follow_prints_the_live_feed(runner: CliRunner, sim: SimProcess, redis_url: str) -> None:
    import threading

    from vurti.bootstrap import services
    from vurti.bus.subscribers import LiveFeed
    from vurti.domain.events import HostStatusChanged

    feed = LiveFeed(services().redis)
    stop = threading.Event()

    def publish() -> None:  # keep publishing until the follower has printed one
        n = 0
        while not stop.is_set() and n < 200:
            feed.handle([(n, HostStatusChanged("h9", 1.0, old="Up", new="Connecting", host_name="host-x"))])
            n += 1
            stop.wait(0.05)

    import os
    import signal

    publisher = threading.Thread(target=publish)
    # Ctrl-C ends --follow; here it arrives after three seconds of following. A test run started in
    # the background of a non-interactive shell ignores SIGINT: give it its default meaning here.
    timer = threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    publisher.start()
    timer.start()
    try:
        out = runner.invoke(cli, ["events", "--follow"])
    finally:
        stop.set()
        timer.cancel()
        publisher.join()
        signal.signal(signal.SIGINT, before)
    assert "Host host-x status changed from Up to Connecting" in out.output


def _one_line_error(out: object, *needles: str) -> None:
    assert out.exit_code == 2, out.output  # type: ignore[attr-defined]
    lines = out.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "Traceback" not in out.output and all(n in lines[0] for n in needles), lines  # type: ignore[attr-defined]


def test_a_cluster_typo_is_refused_and_nothing_is_written(runner: CliRunner) -> None:
    from vurti.bootstrap import services

    assert runner.invoke(cli, ["cluster", "set", "prod", "--cpu-flags", "vmx"]).exit_code == 0
    _one_line_error(runner.invoke(cli, ["host", "add", "h1", "http://127.0.0.1:1/", "--cluster", "prdo"]),
                    "no such cluster: prdo")
    with services().uow() as uow:
        assert uow.hosts.list_hosts() == [] and uow.hosts.get_cluster_by_name("prdo") is None
    out = runner.invoke(cli, ["host", "add", "h1", "http://127.0.0.1:1/", "--cluster", "prdo", "--create-cluster"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["host", "add", "h2", "http://127.0.0.1:2/", "--cluster", "prod"])
    assert out.exit_code == 0, out.output
    assert runner.invoke(cli, ["host", "add", "h3", "http://127.0.0.1:3/"]).exit_code == 0  # the default cluster


def test_bad_host_input_gives_one_line_and_status_2(runner: CliRunner) -> None:
    from vurti.bootstrap import services

    _one_line_error(runner.invoke(cli, ["host", "add", "", "http://127.0.0.1:1/"]), "host name must not be empty")
    _one_line_error(runner.invoke(cli, ["host", "add", "  ", "http://127.0.0.1:1/"]), "must not be empty")
    assert runner.invoke(cli, ["host", "add", "h1", "http://127.0.0.1:1/"]).exit_code == 0
    _one_line_error(runner.invoke(cli, ["host", "add", "h1-again", "stomp://127.0.0.1:1"]),
                    "is already the address of host 'h1'")
    _one_line_error(runner.invoke(cli, ["host", "add", "h2", "h2.example:99999"]), "Port out of range")
    _one_line_error(runner.invoke(cli, ["host", "add", "h1", "http://127.0.0.1:2/"]), "already exists")
    _one_line_error(runner.invoke(cli, ["cluster", "set", "c", "--interval", "nan"]), "refresh interval")
    _one_line_error(runner.invoke(cli, ["cluster", "set", "c", "--interval", "0"]), "refresh interval")
    _one_line_error(runner.invoke(cli, ["host", "remove", "nope"]), "no such host")
    _one_line_error(runner.invoke(cli, ["refresh", "nope"]), "no such host")
    with services().uow() as uow:
        assert [c.name for c, _ in uow.hosts.list_hosts()] == ["h1"]
        assert uow.hosts.get_cluster_by_name("c") is None


def test_unusable_settings_give_one_line_and_status_2() -> None:
    set_services(None)
    for env in ({"VURTI_DATABASE_URL": "bogus://x"}, {"VURTI_REFRESH_INTERVAL": "inf"},
                {"VURTI_LOCK_TTL": "0"}, {"VURTI_REDIS_URL": "notaurl"}):
        _one_line_error(CliRunner().invoke(cli, ["hosts"], env=env), next(iter(env)))


def test_a_cluster_row_with_a_bad_interval_stops_neither_host_add_nor_the_schedule_sync(runner: CliRunner) -> None:
    """A row written before intervals were checked (or by hand): its hosts are polled at the default."""
    import sqlalchemy as sa

    from vurti.bootstrap import services
    from vurti.store.tables import clusters

    svc = services()
    assert runner.invoke(cli, ["cluster", "set", "bad"]).exit_code == 0
    assert runner.invoke(cli, ["host", "add", "good", "http://127.0.0.1:1/"]).exit_code == 0
    with svc.engine.begin() as conn:
        conn.execute(sa.update(clusters).where(clusters.c.name == "bad").values(refresh_interval=0.0))
    out = runner.invoke(cli, ["host", "add", "h1", "http://127.0.0.1:2/", "--cluster", "bad"])
    assert out.exit_code == 0, out.output
    with svc.engine.begin() as conn:
        conn.execute(sa.update(clusters).where(clusters.c.name == "bad").values(refresh_interval=float("inf")))
    assert svc.sync_schedule(1000.0) == (0, 0)  # beat's sync: no exception for the bad row
    ids = {name: svc.resolve_host(name).id for name in ("good", "h1")}
    assert svc.schedule.interval(ids["h1"]) == svc.settings.policy.refresh_interval
    assert set(svc.schedule.scheduled()) == set(ids.values())


def test_maintenance_and_activate_through_the_update_path(runner: CliRunner, sim: SimProcess) -> None:
    from vurti.bootstrap import services

    assert runner.invoke(cli, ["host", "add", "h1", sim.host_url("host-0001")]).exit_code == 0
    assert runner.invoke(cli, ["refresh", "h1"]).exit_code == 0
    out = runner.invoke(cli, ["host", "activate", "h1"])
    assert out.exit_code != 0 and "h1 is Up, not in maintenance" in out.output
    out = runner.invoke(cli, ["host", "maintenance", "h1"])
    assert out.exit_code == 0, out.output
    assert "from Up to PreparingForMaintenance (maintenance requested by an administrator)" in out.output
    svc = services()
    cached = svc.cache.begin_cycles([svc.resolve_host("h1").id], "t", 1.0)  # the poll plan's view: refreshed
    svc.cache.end_cycles([c.host_id for c in cached], "t", [], [])
    assert cached[0].status.name == "PreparingForMaintenance"
    out = runner.invoke(cli, ["refresh", "h1"])  # two VMs still run there: still preparing
    assert out.exit_code == 0 and "h1: PreparingForMaintenance" in out.output, out.output
    for vm in sim.control.vms("host-0001"):
        sim.control.stop(vm["vm_id"])
    sim.control.tick(5)
    out = runner.invoke(cli, ["refresh", "h1"])
    assert "switched to Maintenance mode" in out.output and "h1: Maintenance" in out.output, out.output
    out = runner.invoke(cli, ["host", "activate", "h1"])
    assert out.exit_code == 0 and "host h1: Unassigned" in out.output, out.output
    assert "h1: Up" in runner.invoke(cli, ["refresh", "h1"]).output


def test_cluster_thresholds_and_rng_sources_are_set_and_listed(runner: CliRunner) -> None:
    out = runner.invoke(cli, ["cluster", "set", "c1", "--memory-threshold", "2048MB", "--rng-sources", "hwrng"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(runner.invoke(cli, ["clusters", "--json"]).output)
    assert (row["memory_threshold"], row["required_rng_sources"]) == ("free < 2048 MB", "hwrng")
    assert runner.invoke(cli, ["cluster", "set", "c1", "--memory-threshold", "90"]).exit_code == 0
    (row,) = json.loads(runner.invoke(cli, ["clusters", "--json"]).output)
    assert row["memory_threshold"] == "used > 90%"
    out = runner.invoke(cli, ["cluster", "set", "c1", "--memory-threshold", "190"])
    assert out.exit_code != 0 and "percentage in (0, 100]" in out.output
    out = runner.invoke(cli, ["cluster", "set", "c1", "--memory-threshold", "lots"])
    assert out.exit_code != 0 and "neither a percentage nor NMB" in out.output
