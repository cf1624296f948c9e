"""The in-memory unit of work behaves like the SQL one on the same scenario."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from vurti.domain.analysis import Analysis
from vurti.domain.commands import DestroyVm
from vurti.domain.events import VmDown
from vurti.domain.model import HostState, VmState, replace
from vurti.domain.report import VmStats
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import SqlUnitOfWork, apply_analysis
from vurti.store.fake import FakeUnitOfWork

from .conftest import CLUSTER, HOST, OTHER


def scenario(uow: Any) -> list[object]:
    seen: list[object] = []
    with uow:
        uow.hosts.add_cluster(CLUSTER)
        uow.hosts.add_host(HOST)
        uow.hosts.add_host(OTHER)
        uow.vms.save_vms({}, [VmState("vm-1", name="a", host_id="h1", status=VmStatus.Up)])
    with uow:  # not committed: gone
        seen.append(uow.hosts.list_hosts())
        uow.hosts.add_cluster(CLUSTER)
        uow.hosts.add_host(HOST)
        uow.hosts.add_host(OTHER)
        uow.vms.save_vms({}, [VmState("vm-1", name="a", host_id="h1", status=VmStatus.Up)])
        uow.commit()
    with uow:
        snap = uow.hosts.load_snapshot("h1", ["vm-1"])
        down = replace(snap.vms["vm-1"], status=VmStatus.Down, status_time=7, status_time_host="h1")
        analysis = Analysis(
            host=replace(snap.state, status=HostStatus.Up),
            vms=(down,),
            vm_stats=(("vm-1", VmStats(cpu_user=1.0)),),
            events=(VmDown("h1", 5.0, "vm-1", "a", 0, 0, ""),),
            commands=(DestroyVm("h1", "vm-1", "down"),),
        )
        result = apply_analysis(uow, snap, analysis, 3, 5.0, ["audit"])
        seen.append((bool(result), [e for _, e in result.events], result.commands))
    with uow:
        seen.append(bool(apply_analysis(uow, snap, analysis, 2, 6.0, ["audit"])))  # stale token
    with uow:
        seen.append(bool(apply_analysis(uow, snap, analysis, 3, 5.0, ["audit"])))  # redelivered
    with uow:
        pending = uow.outbox.pending("audit")
        uow.audit.add_many(pending)
        uow.outbox.mark_delivered("audit", [i for i, _ in pending])
        uow.commit()
    with uow:
        after = uow.hosts.load_snapshot("h1", ["vm-1"])
        seen.append((after.state, after.vms, after.fence_token))
        seen.append([(line.event_type, line.message) for line in uow.audit.recent()])
        seen.append(uow.outbox.pending("audit"))
        seen.append([(c.key, c.command) for c in uow.commands.due(10.0)])
        seen.append(uow.vms.get_vm_stats("vm-1"))
        seen.append((uow.hosts.get_host("h2"), uow.hosts.get_host_by_name("host-1"), uow.hosts.get_host_state("h2")))
        seen.append((uow.hosts.get_cluster_by_name("cluster one"), uow.hosts.list_clusters(), uow.vms.list_vms()))
    with uow:
        seen.append(uow.hosts.remove_host("h1"))
        uow.commit()
    with uow:
        seen.append((uow.hosts.list_hosts(), uow.vms.get_vm("vm-1")))
    return seen


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fake_matches_sql(engine: Engine) -> None:
    fake = scenario(FakeUnitOfWork())
    sql = scenario(SqlUnitOfWork(engine))
    assert fake == sql
    assert sql[0] == [] and sql[2] is False and sql[3] is True
    assert sql[4][0] == HostState("h1", status=HostStatus.Up) and sql[4][2] == 3  # type: ignore[index]
