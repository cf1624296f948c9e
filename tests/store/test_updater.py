"""apply_analysis: nothing for nothing, bounded batched writes, fencing, idempotence."""

from __future__ import annotations

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from vurti.domain.analysis import Analysis
from vurti.domain.commands import DestroyVm
from vurti.domain.events import HostStatusChanged, VmDown, VmStateChanged
from vurti.domain.model import HostSnapshot, HostState, NicSample, VmState, VmUsage, replace
from vurti.domain.report import HostStats, VmStats
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import SqlUnitOfWork, apply_analysis
from vurti.store.instrument import StatementCounter
from vurti.store.tables import audit_log, host_commands, outbox, outbox_delivery, vds_statistics, vm_statistics

SUBSCRIBERS = ("audit", "live")


def snapshot_of(uow: SqlUnitOfWork, host_id: str = "h1") -> HostSnapshot:
    with uow:
        snap = uow.hosts.load_snapshot(host_id)
    assert snap is not None
    return snap


def seed(uow: SqlUnitOfWork, count: int = 20) -> HostSnapshot:
    with uow:
        uow.hosts.save_host_state(HostState("h1"), HostState("h1", status=HostStatus.Up))
        uow.vms.save_vms(
            {}, [VmState(f"vm-{i:02d}", name=f"vm{i}", host_id="h1", status=VmStatus.Up) for i in range(count)]
        )
        uow.commit()
    return snapshot_of(uow)


def count_rows(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def pause_all(snap: HostSnapshot, at: float = 100.0) -> Analysis:
    vms = tuple(replace(v, status=VmStatus.Paused, status_time=1000, status_time_host="h1") for v in snap.vms.values())
    events = tuple(VmStateChanged("h1", at, v.vm_id, v.name, "Up", "Paused") for v in vms)
    return Analysis(host=replace(snap.state, last_report_at=at), vms=vms, events=events)


def test_empty_analysis_runs_no_sql_and_takes_no_connection(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    snap = snapshot_of(uow)
    checkouts: list[object] = []

    def on_checkout(*args: object) -> None:
        checkouts.append(args)

    event.listen(engine, "checkout", on_checkout)
    try:
        with StatementCounter(engine) as sql, uow:
            assert apply_analysis(uow, snap, Analysis(), fence_token=1, now=1.0, subscribers=SUBSCRIBERS)
    finally:
        event.remove(engine, "checkout", on_checkout)
    assert sql.count == 0
    assert checkouts == []
    with uow:
        assert uow.hosts.fence_token("h1") == 0  # not even the token was touched


def test_twenty_vm_changes_cost_a_bounded_number_of_statements(
    engine: Engine, uow: SqlUnitOfWork, hosts: object
) -> None:
    snap = seed(uow, 20)
    analysis = pause_all(snap)
    with StatementCounter(engine) as sql, uow:
        result = apply_analysis(uow, snap, analysis, fence_token=1, now=100.0, subscribers=SUBSCRIBERS)
    assert result and len(result.events) == 20
    # fence+host UPDATE, the SELECT that checks no other host's update moved these VMs meanwhile,
    # one VM UPDATE executemany, outbox INSERT, delivery INSERT
    assert sql.count == 5, [s.sql for s in sql.statements]
    (host_update,) = [s for s in sql.of("UPDATE") if "vds_dynamic" in s.sql]
    set_clause = host_update.sql.split(" WHERE ")[0]
    assert "last_report_at" in set_clause and "fence_token" in set_clause  # the only changed host column
    assert "status" not in set_clause and "cpu_flags" not in set_clause
    vm_updates = [s for s in sql.of("UPDATE") if "vm_dynamic" in s.sql]
    assert len(vm_updates) == 1 and vm_updates[0].rows == 20
    assert not any("statistics" in s.sql for s in sql.statements)
    assert count_rows(engine, outbox) == 20 and count_rows(engine, outbox_delivery) == 40
    with uow:
        assert {v.status for v in uow.vms.list_vms("h1")} == {VmStatus.Paused}


def test_statistics_written_in_bulk_only_when_present(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    snap = seed(uow, 20)
    stats = tuple((vm_id, VmStats(cpu_user=float(i), mem_usage=i)) for i, vm_id in enumerate(snap.vms))
    stats += (("vm-not-recorded", VmStats()),)  # no row for it: skipped, not a foreign key error
    analysis = Analysis(host_stats=HostStats(cpu_user=3.0), vm_stats=stats)
    with StatementCounter(engine) as sql, uow:
        assert apply_analysis(uow, snap, analysis, 1, 50.0, SUBSCRIBERS)
    stat_writes = [s for s in sql.statements if "statistics" in s.sql]
    assert len(stat_writes) == 2  # one host upsert, one VM upsert for all 20
    assert sql.count == 3  # plus the fencing check
    assert count_rows(engine, vm_statistics) == 20 and count_rows(engine, vds_statistics) == 1
    with uow:
        assert uow.vms.get_vm_stats("vm-05") == (50.0, VmStats(cpu_user=5.0, mem_usage=5))


def test_usage_is_stored_with_the_statistics_and_loaded_with_the_snapshot(
    engine: Engine, uow: SqlUnitOfWork, hosts: object
) -> None:
    snap = seed(uow, 3)
    usage = VmUsage(usage_cpu_percent=12, usage_network_percent=None, cpu_usage_history=(3, 12),
                    memory_usage_history=(40,), network_usage_history=(), nic_samples=(NicSample("vnet0", 5, 6, 7.5),))
    analysis = Analysis(vm_stats=(("vm-01", VmStats(vcpu_count=4)),), vm_usage=(("vm-01", usage),))
    with StatementCounter(engine) as sql, uow:
        assert apply_analysis(uow, snap, analysis, 1, 50.0, SUBSCRIBERS)
    assert not any("vm_dynamic" in s.sql for s in sql.statements)  # statistics never rewrite the VM's row
    after = snapshot_of(uow)
    assert after.vm_usage == {"vm-01": usage}  # VMs without a statistics row have no usage yet
    with uow:
        assert uow.vms.get_vm_usage("vm-01") == usage
        assert uow.vms.get_vm_stats("vm-01") == (50.0, VmStats(vcpu_count=4))


def test_stale_token_is_refused_and_writes_nothing(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    snap = seed(uow, 3)
    assert apply_analysis_in(uow, snap, pause_all(snap), token=10)
    after = snapshot_of(uow)
    change = Analysis(
        host=replace(after.state, status=HostStatus.NonResponsive),
        vms=(replace(after.vms["vm-00"], status=VmStatus.Unknown),),
        events=(HostStatusChanged("h1", 200.0, "Up", "NonResponsive"),),
        commands=(DestroyVm("h1", "vm-00", "test"),),
    )
    outbox_before = count_rows(engine, outbox)
    result = apply_analysis_in(uow, after, change, token=9)
    assert not result
    assert snapshot_of(uow) == after  # state, VMs and token unchanged
    assert count_rows(engine, outbox) == outbox_before and count_rows(engine, host_commands) == 0
    assert apply_analysis_in(uow, after, change, token=10)  # the same token: the same writer
    assert snapshot_of(uow).state.status == HostStatus.NonResponsive
    newer = snapshot_of(uow)
    assert apply_analysis_in(uow, newer, Analysis(host=replace(newer.state, status=HostStatus.Up)), token=11)
    assert snapshot_of(uow).fence_token == 11


def apply_analysis_in(uow: SqlUnitOfWork, snap: HostSnapshot, analysis: Analysis, token: int) -> object:
    with uow:
        return apply_analysis(uow, snap, analysis, token, 200.0, SUBSCRIBERS)


def test_same_analysis_twice_records_nothing_twice(engine: Engine, uow: SqlUnitOfWork, hosts: object) -> None:
    snap = seed(uow, 2)
    down = replace(snap.vms["vm-00"], status=VmStatus.Down, exit_code=0, status_time=5000, status_time_host="h1")
    external = VmState("ext-1", name="external", host_id="h1", status=VmStatus.Up, managed=False)
    analysis = Analysis(
        host=replace(snap.state, last_report_at=300.0),
        vms=(down, external),
        events=(VmDown("h1", 300.0, "vm-00", "vm0", 0, 0, ""), HostStatusChanged("h1", 300.0, "Up", "Up", "x")),
        commands=(DestroyVm("h1", "vm-00", "down recorded"),),
    )
    first = apply_analysis_in(uow, snap, analysis, 1)
    second = apply_analysis_in(uow, snap, analysis, 1)  # a redelivered task, with the same stale snapshot
    assert first and second
    assert len(first.events) == 2 and second.events == ()  # type: ignore[attr-defined]
    assert count_rows(engine, outbox) == 2 and count_rows(engine, outbox_delivery) == 4
    assert count_rows(engine, host_commands) == 1
    for _ in range(2):  # the audit subscriber receiving the events twice
        with uow:
            uow.audit.add_many(uow.outbox.pending("audit"))
            uow.commit()
    assert count_rows(engine, audit_log) == 2
    with uow:
        assert uow.vms.get_vm("ext-1") == external and uow.vms.get_vm("vm-00") == down
        (cmd,) = uow.commands.due(now=300.0)
        assert cmd.command == DestroyVm("h1", "vm-00", "down recorded") and cmd.key.endswith("@h1:5000")
    # Another Down record of the VM while its destroy is still pending: that one destroy covers it
    # (a later one, after the window, is a new command: test_outbox.py).
    again = replace(down, status_time=9000)
    snap2 = snapshot_of(uow)
    assert apply_analysis_in(uow, snap2, Analysis(vms=(again,), commands=analysis.commands), 1)
    assert count_rows(engine, host_commands) == 1


def test_a_vm_changed_by_another_hosts_update_since_the_snapshot_is_a_conflict(
    engine: Engine, uow: SqlUnitOfWork, hosts: object
) -> None:
    """The two ends of a migration are analysed under different host locks; the later writer must redo."""
    snap = seed(uow, 2)
    vm0 = snap.vms["vm-00"]
    mine = Analysis(vms=(replace(vm0, status=VmStatus.Paused, status_time=(vm0.status_time or 0) + 1),))
    theirs = replace(vm0, status=VmStatus.Down, host_id=None)  # another host's update, committed meanwhile
    with uow:
        uow.vms.save_vms({vm0.vm_id: vm0}, [theirs])
        uow.commit()
    result = apply_analysis_in(uow, snap, mine, 1)
    assert not result and result.conflict  # type: ignore[attr-defined]
    with uow:
        assert uow.vms.get_vm("vm-00") == theirs  # nothing of the stale analysis was written
    with uow:
        fresh = uow.hosts.load_snapshot(snap.config.id, ["vm-00"])
    redone = Analysis(vms=(replace(fresh.vms["vm-00"], status=VmStatus.Paused),))
    assert apply_analysis_in(uow, fresh, redone, 1)


def test_a_down_record_kept_as_evidence_meanwhile_is_a_conflict(
    engine: Engine, uow: SqlUnitOfWork, hosts: object
) -> None:
    """A migration's source ("migration succeeded") and its destination (a Down record) analysed at
    once, each on a snapshot without the other's change: whichever commits second must redo, even
    when the first only kept the Down record as evidence (analyze/lifecycle.py)."""
    snap = seed(uow, 2)
    vm0 = snap.vms["vm-00"]
    evidence = replace(vm0, down_seen_on_host="h2", down_seen_at=50.0)  # the destination's write
    with uow:
        uow.vms.save_vms({vm0.vm_id: vm0}, [evidence])
        uow.commit()
    left = replace(vm0, status=VmStatus.MigratingFrom, exit_code=0, exit_reason=4)  # the source's, on the old snapshot
    result = apply_analysis_in(uow, snap, Analysis(vms=(left,)), 1)
    assert not result and result.conflict  # type: ignore[attr-defined]
    with uow:
        assert uow.vms.get_vm("vm-00") == evidence
