"""apply_analyses and load_snapshots: a batch of hosts in shared statements, each host fenced on its own."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from vurti.domain.analysis import Analysis
from vurti.domain.events import VmStateChanged
from vurti.domain.model import HostConfig, HostSnapshot, HostState, VmState, replace
from vurti.domain.report import HostStats, VmStats
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import SqlUnitOfWork
from vurti.store.instrument import StatementCounter
from vurti.store.updater import Write, apply_analyses

SUBSCRIBERS = ("audit", "live")
HOSTS = [f"h{i}" for i in range(3, 11)]  # besides the fixture's h1 and h2
VMS = 5


@pytest.fixture
def fleet(uow: SqlUnitOfWork, hosts: object) -> list[str]:
    """Hosts h3..h10, Up, with VMS VMs each; returns their ids."""
    with uow:
        for host_id in HOSTS:
            uow.hosts.add_host(HostConfig(host_id, f"host-{host_id}", "c1", "http://127.0.0.1:1"))
            uow.hosts.save_host_state(HostState(host_id), HostState(host_id, status=HostStatus.Up))
            uow.vms.save_vms({}, [VmState(f"{host_id}-vm{i}", name=f"{host_id}-vm{i}", host_id=host_id,
                                          status=VmStatus.Up, status_time=1, status_time_host=host_id)
                                  for i in range(VMS)])
        uow.commit()
    return HOSTS


def snapshots(uow: SqlUnitOfWork, host_ids: list[str]) -> dict[str, HostSnapshot]:
    with uow:
        return uow.hosts.load_snapshots([(h, ()) for h in host_ids])


def statistics_cycle(snap: HostSnapshot, at: float) -> Analysis:
    """What a routine statistics cycle writes: report time, host and VM statistics, a runtime field of each VM."""
    vms = tuple(replace(vm, guest_ips=f"10.0.0.{i}") for i, vm in enumerate(snap.vms.values()))
    return Analysis(
        host=replace(snap.state, last_report_at=at, last_success_at=at),
        host_stats=HostStats(cpu_user=at),
        vms=vms,
        vm_stats=tuple((vm.vm_id, VmStats(cpu_user=at)) for vm in vms),
    )


def test_a_batch_of_statistics_cycles_costs_the_statements_of_one(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    snaps = snapshots(uow, fleet)
    writes = [Write(snaps[h], statistics_cycle(snaps[h], 100.0), 1) for h in fleet]
    with StatementCounter(engine) as sql, uow:
        results = apply_analyses(uow, writes, 100.0, SUBSCRIBERS)
    assert results is not None and all(r.applied and r.wrote for r in results)
    # fencing UPDATE (with the report times), placement check, host statistics, VM UPDATE, VM statistics
    assert sql.count == 5, [s.sql for s in sql.statements]
    assert [s.rows for s in sql.statements] == [len(fleet), 1, len(fleet), len(fleet) * VMS,
                                                len(fleet) * VMS]
    after = snapshots(uow, fleet)
    with uow:
        for h in fleet:
            assert after[h].state.last_report_at == 100.0 and after[h].fence_token == 1
            assert {vm.guest_ips for vm in after[h].vms.values()} == {f"10.0.0.{i}" for i in range(VMS)}
            assert uow.hosts.get_host_stats(h) == (100.0, HostStats(cpu_user=100.0))
            assert uow.vms.get_vm_stats(f"{h}-vm0") == (100.0, VmStats(cpu_user=100.0))


def test_a_stale_token_drops_only_its_own_host(engine: Engine, uow: SqlUnitOfWork, fleet: list[str]) -> None:
    lost = fleet[2]
    with uow:
        assert uow.hosts.fence(lost, 7)  # a newer writer of that host got there first
        uow.commit()
    snaps = snapshots(uow, fleet)
    writes = [Write(snaps[h], statistics_cycle(snaps[h], 100.0), 1 if h == lost else 9) for h in fleet]
    with uow:
        results = apply_analyses(uow, writes, 100.0, SUBSCRIBERS)
    assert results is not None
    assert [bool(r) for r in results] == [h != lost for h in fleet]
    after = snapshots(uow, fleet)
    assert after[lost] == snaps[lost]  # state, VMs and token as they were
    with uow:
        assert uow.hosts.get_host_stats(lost) is None and uow.vms.get_vm_stats(f"{lost}-vm0") is None
        assert all(after[h].state.last_report_at == 100.0 and after[h].fence_token == 9 for h in fleet if h != lost)


def test_writes_that_share_a_vm_are_refused_before_any_sql(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    """A VM migrating from one host of the batch to another: the second analysis must see the first's change."""
    source, target = fleet[0], fleet[1]
    vm = f"{source}-vm0"
    with uow:
        old = uow.vms.get_vm(vm)
        assert old is not None
        uow.vms.save_vms({vm: old}, [replace(old, status=VmStatus.MigratingFrom, migrating_to_host=target)])
        uow.commit()
    snaps = snapshots(uow, [source, target])
    assert vm in snaps[source].vms and vm in snaps[target].vms
    writes = [Write(snaps[h], statistics_cycle(snaps[h], 100.0), 1) for h in (source, target)]
    with StatementCounter(engine) as sql, uow:
        assert apply_analyses(uow, writes, 100.0, SUBSCRIBERS) is None
    assert sql.count == 0
    twice = [Write(snaps[source], statistics_cycle(snaps[source], t), 1) for t in (100.0, 103.0)]
    with uow:
        assert apply_analyses(uow, twice, 103.0, SUBSCRIBERS) is None  # one host twice: the same rule


def test_a_vm_moved_by_another_update_rolls_the_whole_batch_back(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    snaps = snapshots(uow, fleet)
    moved = snaps[fleet[3]].vms[f"{fleet[3]}-vm1"]
    with uow:  # another host's update of that VM, committed after the snapshots were taken
        uow.vms.save_vms({moved.vm_id: moved}, [replace(moved, status=VmStatus.Down, host_id=None)])
        uow.commit()
    writes = [Write(snaps[h], statistics_cycle(snaps[h], 100.0), 1) for h in fleet]
    with uow:
        assert apply_analyses(uow, writes, 100.0, SUBSCRIBERS) is None
    after = snapshots(uow, fleet)
    with uow:
        for h in fleet:  # not even the fencing UPDATE's token and report time stayed
            assert after[h].fence_token == 0 and after[h].state.last_report_at is None
            assert uow.hosts.get_host_stats(h) is None


def test_each_host_gets_back_the_outbox_rows_of_its_own_events(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    snaps = snapshots(uow, fleet[:4])
    writes = []
    for h in fleet[:3]:
        vm = snaps[h].vms[f"{h}-vm0"]
        paused = replace(vm, status=VmStatus.Paused, status_time=2)
        event = VmStateChanged(h, 100.0, vm.vm_id, vm.name, "Up", "Paused")
        writes.append(Write(snaps[h], Analysis(vms=(paused,), events=(event,)), 1))
    writes.insert(1, Write(snaps[fleet[3]], Analysis(), 1))  # nothing to write: applied, nothing written
    with uow:
        results = apply_analyses(uow, writes, 100.0, SUBSCRIBERS)
    assert results is not None and all(results)
    for w, r in zip(writes, results, strict=True):
        assert [e for _, e in r.events] == list(w.analysis.events)
    assert not results[1].wrote and snapshots(uow, [fleet[3]])[fleet[3]].fence_token == 0
    assert len({i for r in results for i, _ in r.events}) == 3


def test_load_snapshots_equals_one_load_per_host(uow: SqlUnitOfWork, fleet: list[str]) -> None:
    source, target = fleet[0], fleet[1]
    with uow:
        old = uow.vms.get_vm(f"{source}-vm0")
        assert old is not None
        uow.vms.save_vms({old.vm_id: old}, [replace(old, status=VmStatus.MigratingFrom, migrating_to_host=target)])
        uow.commit()
    requests = [(h, [f"{fleet[4]}-vm2", "unknown-vm"] if h == fleet[3] else []) for h in fleet]
    requests.append(("no-such-host", ["x"]))
    with uow:
        together = uow.hosts.load_snapshots(requests)
        one_by_one = {h: uow.hosts.load_snapshot(h, vms) for h, vms in requests}
    assert together == {h: s for h, s in one_by_one.items() if s is not None}
    assert "no-such-host" not in together
    assert f"{source}-vm0" in together[target].vms  # migrating to it
    assert together[target].host_statuses == {source: HostStatus.Up}
    assert f"{fleet[4]}-vm2" in together[fleet[3]].vms  # reported by it, runs elsewhere


def test_a_host_requested_twice_gets_the_vms_of_both_requests(uow: SqlUnitOfWork, fleet: list[str]) -> None:
    """Two reports of one host in one batch (two pushed events, a message and its twin): the
    snapshot holds what each reported, else the analysis of one misses a VM it reported and
    takes a known VM for one it never saw."""
    host, other = fleet[0], fleet[1]
    with uow:
        for vm_id in (f"{other}-vm0", f"{other}-vm1"):
            old = uow.vms.get_vm(vm_id)
            assert old is not None
            uow.vms.save_vms({vm_id: old}, [replace(old, status=VmStatus.Down, host_id=None)])
        uow.commit()
    with uow:
        snaps = uow.hosts.load_snapshots([(host, [f"{other}-vm0"]), (host, [f"{other}-vm1"])])
    assert {f"{other}-vm0", f"{other}-vm1"} <= snaps[host].vms.keys()


def test_load_snapshots_takes_two_queries_for_many_hosts(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    with StatementCounter(engine) as sql, uow:
        snaps = uow.hosts.load_snapshots([(h, [f"{h}-vm{i}" for i in range(VMS)]) for h in fleet])
    assert sql.count == 2
    assert sorted(snaps) == sorted(fleet) and all(len(s.vms) == VMS for s in snaps.values())


def test_a_newer_token_on_an_older_snapshot_is_refused(engine: Engine, uow: SqlUnitOfWork, fleet: list[str]) -> None:
    """Two runs of one message (a duplicate, or a redelivery while the first still runs): the second takes
    over the first's lock with a newer token, both read the same snapshot. The second wrote on a state
    that is gone: nothing written, redone by the caller on a fresh snapshot (else the one transition
    is applied, and announced, twice)."""
    host = fleet[0]
    vm = f"{host}-vm0"
    first, second = snapshots(uow, [host])[host], snapshots(uow, [host])[host]

    def pause(snap: HostSnapshot) -> Analysis:
        old = snap.vms[vm]
        new = replace(old, status=VmStatus.Paused, status_time=2)
        return Analysis(host=snap.state, vms=(new,), events=(VmStateChanged(host, 100.0, vm_id=vm, old="Up",
                                                                            new="Paused"),))

    with uow:
        done = apply_analyses(uow, [Write(first, pause(first), 1)], 100.0, SUBSCRIBERS)
    assert done is not None and done[0].applied and done[0].wrote
    with uow:
        assert apply_analyses(uow, [Write(second, pause(second), 2)], 101.0, SUBSCRIBERS) is None
    with uow:
        assert uow.hosts.fence_token(host) == 1
        assert len([e for _, e in uow.outbox.pending("audit") if isinstance(e, VmStateChanged)]) == 1
