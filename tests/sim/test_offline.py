"""The life model and VM transitions without a server: fast, deterministic checks."""

from __future__ import annotations

from vurti.domain.status import VmStatus
from vurti.sim import actions
from vurti.sim.fleet import Fleet
from vurti.sim.life import run_offline
from vurti.sim.wire import vm_stats


def test_same_seed_same_history() -> None:
    first = run_offline(seed=7, hosts=12, vms_per_host=10, ticks=240, churn=12.0, clusters=3)
    second = run_offline(seed=7, hosts=12, vms_per_host=10, ticks=240, churn=12.0, clusters=3)
    assert len(first) > 100
    assert first == second


def test_other_seed_other_history() -> None:
    assert run_offline(7, 12, 10, 240, 12.0, 3) != run_offline(8, 12, 10, 240, 12.0, 3)


def test_ids_are_stable_and_unique() -> None:
    a, b = Fleet(5, 30, 20), Fleet(5, 30, 20)
    assert list(a.vms) == list(b.vms)
    assert [h.uuid for h in a.hosts] == [h.uuid for h in b.hosts]
    assert len(set(a.vms)) == 600
    assert list(Fleet(6, 30, 20).vms) != list(a.vms)


def test_churn_zero_never_changes_status() -> None:
    assert run_offline(3, 10, 10, 300, 0.0) == []


def test_migrations_stay_in_their_cluster() -> None:
    fleet = Fleet(2, 12, 5, clusters=3)
    cluster = {h.name: h.cluster for h in fleet.hosts}
    for _, _, host, _, what, detail in run_offline(2, 12, 5, 600, 30.0, clusters=3):
        if what == "migrate_out":
            assert cluster[detail.split()[0]] == cluster[host]


def test_churning_fleet_keeps_its_population_when_down_records_are_destroyed() -> None:
    history = run_offline(4, 10, 10, 1200, 30.0)
    starts = sum(1 for row in history if row[4] in ("start", "restore"))
    assert starts > 20


def test_unsampled_keys_absent_while_launching() -> None:
    fleet = Fleet(1, 2, 1)
    host = fleet.hosts[0]
    rec = next(iter(host.records.values()))
    actions.stop(fleet, rec)
    for _ in range(actions.POWER_DOWN):
        fleet.step()
    assert rec.status is VmStatus.Down
    assert set(vm_stats(rec, "1", 0)) == {"vmId", "status", "statusTime", "exitCode", "exitReason", "exitMessage",
                                          "timeOffset"}
    actions.destroy(fleet, host, rec.spec.vm_id)
    new = actions.start(fleet, rec.spec, host)
    st = vm_stats(new, "1", 0)
    assert st["status"] == "WaitForLaunch"
    assert not {"network", "disks", "balloonInfo", "memoryStats", "vcpuCount"} & set(st)
