"""Repositories: round trips, bounded reads, changed-columns-only writes, scope, hostile names."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vurti.domain.model import Cluster, HostConfig, HostState, VmState, replace
from vurti.domain.report import HostStats, NicStats
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import HostInUse, OutOfScope, Scope, SqlUnitOfWork
from vurti.store.instrument import StatementCounter

from .conftest import CLUSTER, HOST


def vm(i: int, host: str | None = "h1", status: VmStatus = VmStatus.Up, **kw: object) -> VmState:
    return VmState(f"vm-{i:04d}", name=f"vm {i}", host_id=host, status=status, **kw)  # type: ignore[arg-type]


def seed_vms(uow: SqlUnitOfWork, vms: list[VmState]) -> None:
    with uow:
        uow.vms.save_vms({}, vms)
        uow.commit()


def test_clusters_and_hosts_round_trip(uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]) -> None:
    with uow:
        assert uow.hosts.get_cluster("c1") == CLUSTER
        assert uow.hosts.list_clusters() == [CLUSTER]
        assert uow.hosts.get_host_by_name("host-1") == HOST
        assert uow.hosts.get_host("h1") == HOST
        assert uow.hosts.get_host_state("h1") == HostState("h1")  # a new host is Unassigned
        assert uow.hosts.get_cluster_by_name("cluster one") == CLUSTER
        assert [c.id for c, _ in uow.hosts.list_hosts()] == ["h1", "h2"]
        assert uow.hosts.fence_token("h1") == 0
        assert uow.hosts.get_host_by_name("nope") is None


def test_duplicate_host_name_is_refused(uow: SqlUnitOfWork, hosts: object) -> None:
    with uow, pytest.raises(sa.exc.IntegrityError):
        uow.hosts.add_host(HostConfig("h9", "host-1", "c1", "http://x"))


def test_hostile_names_are_stored_verbatim(uow: SqlUnitOfWork, hosts: object) -> None:
    name = "x'); DROP TABLE vds_static; --\" \\ %s :name"
    with uow:
        uow.hosts.add_host(HostConfig("h'3", name, "c1", "http://x/'"))
        uow.vms.save_vms({}, [VmState("vm'1", name=name, host_id="h'3")])
        uow.commit()
    with uow:
        found = uow.hosts.get_host_by_name(name)
        assert found is not None and found.id == "h'3"
        snapshot = uow.hosts.load_snapshot("h'3", ["vm'1", "'; --"])
        assert snapshot is not None and snapshot.vms["vm'1"].name == name
        assert len(uow.hosts.list_hosts()) == 3


def test_every_vm_field_round_trips(uow: SqlUnitOfWork, hosts: object) -> None:
    full = VmState(
        "vm-full",
        name="full",
        host_id="h1",
        status=VmStatus.MigratingFrom,
        managed=False,
        migrating_to_host="h2",
        status_time=2**40,
        status_time_host="h1",
        exit_code=1,
        exit_reason=8,
        exit_message="boom",
        pause_code="EIO",
        client_ip="10.0.0.1",
        guest_ips="10.0.0.2 10.0.0.3",
        hash="abc",
        last_watchdog_time=1234.5,
        nic_states=(("eth0", "up"), ("eth1", "down")),
        auto_start=True,
    )
    seed_vms(uow, [full])
    with uow:
        assert uow.vms.get_vm("vm-full") == full
        assert uow.vms.list_vms("h1") == [full]


@pytest.mark.parametrize("count", [20, 200])
def test_load_snapshot_costs_two_statements_whatever_the_vm_count(
    engine: Engine, uow: SqlUnitOfWork, hosts: object, count: int
) -> None:
    vms = [vm(i) for i in range(count)]
    vms.append(vm(9000, host="h2", migrating_to_host="h1", status=VmStatus.MigratingFrom))  # incoming
    vms.append(vm(9001, host="h2"))  # elsewhere, but reported by h1
    vms.append(vm(9002, host="h2"))  # elsewhere, not reported: not loaded
    seed_vms(uow, vms)
    with uow:
        uow.hosts.save_host_state(HostState("h2"), HostState("h2", status=HostStatus.NonResponsive))
        uow.commit()
    reported = [v.vm_id for v in vms[:count]] + ["vm-9001", "vm-unknown"]
    with uow, StatementCounter(engine) as sql:
        snapshot = uow.hosts.load_snapshot("h1", reported)
    assert snapshot is not None
    assert sql.count == 2, [s.sql for s in sql.statements]
    assert len(snapshot.vms) == count + 2
    assert "vm-9002" not in snapshot.vms
    assert snapshot.host_statuses == {"h2": HostStatus.NonResponsive}
    assert snapshot.host_names == {"h2": "host-2"}  # for events people read
    assert snapshot.cluster == CLUSTER and snapshot.config == HOST


def test_load_snapshot_of_unknown_host(uow: SqlUnitOfWork, hosts: object) -> None:
    with uow:
        assert uow.hosts.load_snapshot("nope") is None


def test_save_host_state_writes_only_changed_columns(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    old = HostState("h1")
    new = replace(old, status=HostStatus.Up, cpu_flags=("vmx", "sse2"))
    with uow, StatementCounter(engine) as sql:
        assert uow.hosts.save_host_state(old, old) is False  # nothing changed: no statement
        assert sql.count == 0
        uow.hosts.save_host_state(old, new)
        uow.commit()
    (update,) = sql.of("UPDATE")
    set_clause = update.sql.split(" WHERE ")[0]
    assert "status=" in set_clause.replace(" ", "") and "cpu_flags" in set_clause
    for untouched in ("cpu_model", "networks", "vm_count", "status_reason", "fence_token", "boot_time"):
        assert untouched not in set_clause
    with uow:
        assert uow.hosts.get_host_state("h1") == new


def test_host_stats_upsert(uow: SqlUnitOfWork, hosts: object) -> None:
    stats = HostStats(cpu_user=12.5, mem_free=1024, boot_time="123", nics=(NicStats("eth0", "up", 1000),))
    with uow:
        uow.hosts.save_host_stats("h1", stats, 10.0)
        uow.hosts.save_host_stats("h1", replace(stats, cpu_user=50.0), 20.0)
        uow.commit()
    with uow:
        assert uow.hosts.get_host_stats("h1") == (20.0, replace(stats, cpu_user=50.0))


def test_vm_updates_are_batched_by_column_set(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    before = {v.vm_id: v for v in (vm(i) for i in range(30))}
    seed_vms(uow, list(before.values()))
    paused = [replace(before[f"vm-{i:04d}"], status=VmStatus.Paused) for i in range(20)]
    renamed_ip = [replace(before[f"vm-{i:04d}"], client_ip="1.2.3.4", name="renamed") for i in range(20, 25)]
    new = [vm(100 + i) for i in range(3)]
    with uow, StatementCounter(engine) as sql:
        written = uow.vms.save_vms(before, paused + renamed_ip + new)
        uow.commit()
    assert written == 28
    updates = sql.of("UPDATE")
    # One execution per (table, column set): status (20 VMs), client_ip (5), name in vm_static (5).
    assert len(updates) == 3, [s.sql for s in updates]
    status_update = next(s for s in updates if s.rows == 20)
    assert status_update.many and "client_ip" not in status_update.sql and "name" not in status_update.sql
    assert len(sql.of("INSERT")) == 2  # new VMs: one vm_static, one vm_dynamic statement
    with uow:
        assert uow.vms.get_vm("vm-0003").status == VmStatus.Paused  # type: ignore[union-attr]
        assert uow.vms.get_vm("vm-0021") == replace(before["vm-0021"], client_ip="1.2.3.4", name="renamed")
        assert len(uow.vms.list_vms()) == 33


def test_remove_host_refuses_running_vms_and_detaches_stopped_ones(uow: SqlUnitOfWork, hosts: object) -> None:
    seed_vms(uow, [vm(1, host="h2"), vm(2, host="h2", status=VmStatus.Down)])
    with uow, pytest.raises(HostInUse):
        uow.hosts.remove_host("h2")
    with uow:
        uow.vms.save_vms({"vm-0001": vm(1, host="h2")}, [vm(1, host="h2", status=VmStatus.Down)])
        assert uow.hosts.remove_host("h2") == 2
        uow.commit()
    with uow:
        assert uow.hosts.get_host("h2") is None
        assert uow.vms.get_vm("vm-0002").host_id is None  # type: ignore[union-attr]


def test_scope_hides_and_refuses_other_clusters(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    with uow:
        uow.hosts.add_cluster(Cluster("c2", "cluster two"))
        uow.hosts.add_host(HostConfig("hb", "host-b", "c2", "http://b"))
        uow.vms.save_vms({}, [vm(1, host="h1"), vm(2, host="hb")])
        uow.commit()
    scoped = SqlUnitOfWork(engine, Scope.of_clusters("c1"))
    with scoped:
        hosts_ = scoped.hosts
        assert hosts_.load_snapshot("hb") is None
        assert hosts_.get_host("hb") is None and hosts_.get_host_by_name("host-b") is None
        assert hosts_.get_host_state("hb") is None and hosts_.get_cluster_by_name("cluster two") is None
        assert [c.id for c, _ in hosts_.list_hosts()] == ["h1", "h2"]
        assert [c.id for c in hosts_.list_clusters()] == ["c1"]
        assert hosts_.get_cluster("c2") is None
        assert [v.vm_id for v in scoped.vms.list_vms()] == ["vm-0001"]
        with pytest.raises(OutOfScope):
            hosts_.fence("hb", 1)
        with pytest.raises(OutOfScope):
            hosts_.save_host_state(HostState("hb"), HostState("hb", status=HostStatus.Up))
        with pytest.raises(OutOfScope):
            hosts_.save_host_stats("hb", HostStats(), 1.0)
        with pytest.raises(OutOfScope):
            scoped.vms.save_vms({}, [vm(3, host="hb")])
        with pytest.raises(OutOfScope):
            scoped.vms.list_vms("hb")
        with pytest.raises(OutOfScope):
            hosts_.add_host(HostConfig("hc", "host-c", "c2", "http://c"))
        assert hosts_.fence("h1", 1) is True  # its own hosts are writable
        scoped.vms.save_vms({}, [vm(4, host="h1")])
        scoped.commit()
    with uow:
        assert uow.hosts.get_host_state("hb") == HostState("hb")
        assert uow.vms.get_vm("vm-0003") is None and uow.vms.get_vm("vm-0004") is not None


def test_hosts_running_vms_are_counted_once_each(uow: SqlUnitOfWork, hosts: object) -> None:
    seed_vms(uow, [vm(1), vm(2), vm(3, host="h2"), vm(4, host=None, status=VmStatus.Down)])
    with uow:
        assert uow.vms.count_hosts_running_vms() == 2
