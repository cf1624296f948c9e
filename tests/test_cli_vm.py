"""`vurti vm set|expect|pending` and the expect_operation task's service, against SQLite and real redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from vurti.bootstrap import Services, set_services
from vurti.cli.main import _register, cli
from vurti.config import Settings
from vurti.domain.model import Cluster, HostConfig, VmState
from vurti.domain.status import VmStatus
from vurti.store.db import upgrade

_register()


@pytest.fixture()
def svc(tmp_path: Path, redis_url: str) -> Iterator[Services]:
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings.from_env({"VURTI_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "VURTI_REDIS_URL": redis_url,
                                  "VURTI_RUN_TIMEOUT": "90"})
    upgrade(settings.database_url)
    services = Services(settings, clock=lambda: 1000.0)
    with services.uow() as uow:
        uow.hosts.add_cluster(Cluster("c1", "c1"))
        uow.hosts.add_host(HostConfig("h1", "host-1", "c1", "stomp://127.0.0.1:1"))
        uow.hosts.add_host(HostConfig("h2", "host-2", "c1", "stomp://127.0.0.1:2"))
        uow.vms.save_vms({}, [VmState("v1", name="web", host_id="h1", status=VmStatus.Up),
                              VmState("v2", name="db", status=VmStatus.Down),
                              VmState("v3", name="twin", status=VmStatus.Down),
                              VmState("v4", name="twin", status=VmStatus.Down),
                              VmState("v5", name="lost", host_id="h1", status=VmStatus.Unknown)])
        uow.commit()
    set_services(services)
    yield services
    set_services(None)
    services.engine.dispose()


def test_vm_set_marks_highly_available_and_sets_the_lease(svc: Services) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["vm", "set", "web", "--ha", "--lease", "sd-1"])
    assert out.exit_code == 0, out.output
    assert "highly available yes, lease sd-1" in out.output
    out = runner.invoke(cli, ["vm", "set", "web", "--no-lease"])  # --ha stays
    assert "highly available yes, lease none" in out.output
    with svc.uow() as uow:
        vm = uow.vms.get_vm("v1")
    assert vm is not None and (vm.auto_start, vm.lease_sd_id, vm.status) == (True, None, VmStatus.Up)
    rows = json.loads(runner.invoke(cli, ["vms", "--json"]).output)
    assert [r["ha"] for r in rows if r["id"] == "v1"] == [True]


def test_expected_run_and_migration_are_stored_and_listed(svc: Services) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["vm", "expect", "run", "db", "--host", "host-2"])
    assert out.exit_code == 0, out.output
    assert "expecting VM db to run on host host-2 within 90 s" in out.output
    out = runner.invoke(cli, ["vm", "expect", "migrate", "web", "--to", "host-2", "--timeout", "30"])
    assert out.exit_code == 0, out.output
    assert "from host host-1 to host host-2 within 30 s" in out.output
    out = runner.invoke(cli, ["vm", "expect", "run", "lost", "--host", "host-2"])  # Unknown on a lost host
    assert out.exit_code == 0, out.output
    rows = json.loads(runner.invoke(cli, ["vm", "pending", "--json"]).output)
    assert sorted((r["vm"], r["kind"], r["host"], r["destination"], r["deadline"]) for r in rows) == [
        ("db", "run", "host-2", None, 1090.0), ("lost", "run", "host-2", None, 1090.0),
        ("web", "migrate", "host-1", "host-2", 1030.0)]


@pytest.mark.parametrize("args, message", [
    (["vm", "set", "nope", "--ha"], "no such VM: nope"),
    (["vm", "set", "twin", "--ha"], "2 VMs are named twin: give its id"),
    (["vm", "set", "web"], "nothing to set"),
    (["vm", "expect", "run", "db", "--host", "nope"], "no such host: nope"),
    (["vm", "expect", "run", "web", "--host", "host-2"], "runs on another host"),
    (["vm", "expect", "migrate", "db"], "is not running (Down): nothing to migrate"),
    (["vm", "expect", "migrate", "web", "--to", "host-1"], "already runs on host host-1"),
    (["vm", "expect", "run", "db", "--host", "host-1", "--timeout", "-1"], "timeout must be positive"),
])
def test_bad_requests_give_clear_errors_and_store_nothing(svc: Services, args: list[str], message: str) -> None:
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 2 and message in out.output, out.output
    assert svc.operations.pending() == []


def test_the_task_answers_a_bad_request_instead_of_raising(svc: Services) -> None:
    from tasks.monitoring import expect_operation

    assert expect_operation.run("halt", "web") == {"ok": False, "error": "unknown operation 'halt': run or migrate"}
    assert expect_operation.run("run", "web")["ok"] is False
    done = expect_operation.run("run", "db", host="host-1")
    assert (done["ok"], done["vm_id"], done["host_id"], done["deadline"]) == (True, "v2", "h1", 1090.0)
