"""Random report sequences over a small cluster, each Analysis fed back into the state.

Checks: never raises; VM states stay consistent (one host, migration fields only
where they make sense); an analysis of host H only moves VMs onto H when H reported
them (or hands them over from H); every event is about H at `now`; the same report
applied twice gives an empty second Analysis; a stale report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vurti.analyze import analyze, apply_analysis
from vurti.analyze._work import left_by_migration
from vurti.domain.analysis import Analysis
from vurti.domain.events import InvalidVmData
from vurti.domain.exits import ExitReason
from vurti.domain.model import Cluster, HostConfig, HostSnapshot, HostState, VmState, replace
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import (
    AGENT_RECOVERING_CODE,
    FetchError,
    FetchErrorKind,
    HostCapabilities,
    HostReport,
    HostStats,
    VmReport,
    VmStats,
    Watchdog,
)
from vurti.domain.status import RUNNING_VM_STATUSES, VDSM_VM_STATUS, HostStatus, VmStatus

HOSTS = ("h1", "h2", "h3")
VMS = ("v1", "v2", "v3", "v4")
POLICY = MonitoringPolicy()
CLUSTER = Cluster("c1", "c1", required_networks=("ovirtmgmt",))
# Weighted towards the statuses of migrations, where the rules interact most.
REPORTED_STATUSES = [
    None,
    *VDSM_VM_STATUS.values(),
    *[VmStatus.Up, VmStatus.MigratingFrom, VmStatus.MigratingTo, VmStatus.Down] * 2,
]


@dataclass
class World:
    states: dict[str, HostState]
    vms: dict[str, VmState]
    now: float = 1000.0
    log: list[str] = field(default_factory=list)

    def snapshot(self, host_id: str) -> HostSnapshot:
        return HostSnapshot(
            cluster=CLUSTER,
            config=HostConfig(host_id, host_id, CLUSTER.id, f"http://{host_id}", is_spm=host_id == "h1"),
            state=self.states[host_id],
            vms=dict(self.vms),
            host_statuses={h: s.status for h, s in self.states.items() if h != host_id},
        )


# ---- strategies -----------------------------------------------------------------------------

vm_reports = st.builds(
    VmReport,
    vm_id=st.sampled_from(VMS),
    status=st.sampled_from(REPORTED_STATUSES),
    status_time=st.one_of(st.none(), st.integers(0, 40)),
    exit_code=st.sampled_from([None, 0, 1]),
    exit_reason=st.sampled_from([None, 0, 1, 4, 4, 4, 5, 8]),
    pause_code=st.sampled_from([None, "EIO", "ENOSPC", "NOERR", "POSTCOPY"]),
    monitor_response=st.sampled_from([None, 0, 0, -1]),
    client_ip=st.sampled_from([None, "10.0.0.1"]),
    watchdog=st.one_of(st.none(), st.builds(Watchdog, action=st.just("reset"), time=st.integers(0, 5).map(float))),
    stats=st.one_of(
        st.none(),
        st.builds(
            VmStats,
            balloon_cur=st.sampled_from([None, 1_000_000, 4_000_000]),
            balloon_target=st.sampled_from([None, 1_000_000]),
            guest_mem_free=st.sampled_from([None, 10, 900]),
            guest_mem_total=st.sampled_from([None, 1000]),
        ),
    ),
)

errors = st.one_of(
    *[st.none()] * 6,
    st.builds(
        FetchError, kind=st.sampled_from([FetchErrorKind.TIMEOUT, FetchErrorKind.UNREACHABLE]), message=st.just("x")
    ),
    st.builds(FetchError, kind=st.just(FetchErrorKind.PROTOCOL), message=st.just("garbage")),
    st.builds(FetchError, kind=st.just(FetchErrorKind.AGENT_ERROR), message=st.just("r"),
              code=st.sampled_from([AGENT_RECOVERING_CODE, 100])),
)


@st.composite
def poll(draw):
    return (
        "poll",
        draw(st.sampled_from(HOSTS)),
        draw(st.floats(0, 90)),  # clock advance
        draw(st.sampled_from([0.0, 0.0, 1.0, 5.0, 30.0])),  # how long ago the fetch started
        draw(errors),
        draw(st.one_of(st.none(), st.lists(vm_reports, max_size=5).map(tuple))),
        draw(st.booleans()),  # partial
        draw(st.booleans()),  # vms_full
        draw(st.booleans()),  # stats_due
        draw(st.sampled_from([None, "boot-1", "boot-2"])),
        draw(st.sampled_from([None, HostCapabilities(networks=("ovirtmgmt",)), HostCapabilities()])),
    )


engine_actions = st.tuples(st.just("migrate"), st.sampled_from(VMS), st.sampled_from(HOSTS))
steps = st.lists(st.one_of(poll(), poll(), engine_actions), max_size=30)

initial_vms = st.fixed_dictionaries(
    {
        v: st.builds(
            lambda status, host, v=v: VmState(
                vm_id=v,
                name=v,
                status=status,
                host_id=None if status == VmStatus.Down else host,
            ),
            st.sampled_from([VmStatus.Up, VmStatus.Down, VmStatus.Paused, VmStatus.PoweringDown]),
            st.sampled_from(HOSTS),
        )
        for v in VMS
    }
)
initial_hosts = st.fixed_dictionaries(
    {h: st.sampled_from([HostStatus.Up, HostStatus.Up, HostStatus.Connecting, HostStatus.Unassigned]) for h in HOSTS}
)


# ---- invariants ---------------------------------------------------------------------------------


def check_vm(vm: VmState) -> None:
    if vm.status in RUNNING_VM_STATUSES:
        assert vm.host_id is not None, vm
    if vm.status == VmStatus.Down:
        assert vm.host_id is None and vm.migrating_to_host is None, vm
    if vm.migrating_to_host is not None:
        assert vm.status == VmStatus.MigratingFrom and vm.migrating_to_host != vm.host_id, vm
    if vm.migrating_from_host is not None:
        handed = vm.status in (VmStatus.MigratingTo, VmStatus.Unknown) and vm.host_id != vm.migrating_from_host
        left = vm.status == VmStatus.Down and vm.exit_reason == ExitReason.MigrationSucceeded
        assert handed or left, vm
    assert (vm.status_time is None) == (vm.status_time_host is None), vm
    assert 0 <= vm.balloon_misses <= 2


def check_analysis(world: World, snap: HostSnapshot, report: HostReport, analysis: Analysis) -> None:
    host = snap.config.id
    assert all(e.host_id == host and e.at == world.now for e in analysis.events)
    ids = [vm.vm_id for vm in analysis.vms]
    assert len(ids) == len(set(ids))
    assert all(snap.vms.get(vm.vm_id) != vm for vm in analysis.vms)
    if analysis.stale:
        assert analysis == Analysis(stale=True)
        return
    reported = {r.vm_id: r for r in report.vms or () if r.status not in (None, VmStatus.Down)}
    for vm in analysis.vms:
        before = snap.vms.get(vm.vm_id)
        old_host = before.host_id if before else None
        if vm.host_id == old_host or vm.host_id is None:
            continue
        if vm.host_id == host:
            assert vm.vm_id in reported, (before, vm)  # moved here only on this host's word
        else:
            assert old_host == host and vm.migrating_from_host == host, (before, vm)  # hand-over from here
    state = analysis.host or snap.state
    if report.error is not None and state.status == HostStatus.NonResponsive:
        for vm in apply_analysis(snap, analysis).vms.values():
            if vm.host_id == host and vm.status in RUNNING_VM_STATUSES and not left_by_migration(vm):
                assert vm.status == VmStatus.Unknown, vm


def run_poll(world: World, step: tuple) -> None:
    _, host, advance, lag, error, vms, partial, full, due, boot, caps = step
    world.now += advance
    report = HostReport(
        host_id=host,
        fetched_at=world.now - lag,
        error=error,
        stats=HostStats(boot_time=boot) if error is None and not partial else None,
        capabilities=caps if error is None and not partial else None,
        vms=vms if error is None else None,
        vms_full=full,
        stats_due=due,
        partial=partial,
    )
    snap = world.snapshot(host)
    analysis = analyze(snap, report, world.now, POLICY)
    check_analysis(world, snap, report, analysis)
    after = apply_analysis(snap, analysis)
    again = analyze(after, report, world.now, POLICY)
    if partial and error is None:
        # A pushed event is recognised again by its VMs' agent clock alone (the event path
        # never sends one without notify_time): it changes nothing; a VM it cannot read is
        # reported again, and a leftover Down record asked to be destroyed again (host_commands
        # refuses the repeat), since no state remembers them.
        timed = all(vm.status_time is not None for vm in report.vms or ())
        assert not timed or (again.host is None and not again.vms), again
        assert not timed or all(isinstance(e, InvalidVmData) for e in again.events), again
    else:
        assert again.is_empty, again
    world.states[host] = after.state
    world.vms = dict(after.vms)
    for vm in world.vms.values():
        check_vm(vm)


def run_engine(world: World, step: tuple) -> None:
    """The engine starts a migration of a running VM (what MigrateVmCommand stores)."""
    _, vm_id, destination = step
    vm = world.vms[vm_id]
    if vm.status == VmStatus.Up and vm.host_id not in (None, destination):
        world.vms[vm_id] = replace(vm, status=VmStatus.MigratingFrom, migrating_to_host=destination)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts=initial_hosts, vms=initial_vms, steps=steps)
def test_random_report_sequences_keep_state_consistent(hosts, vms, steps):
    world = World(
        states={h: HostState(host_id=h, status=s, last_success_at=1000.0) for h, s in hosts.items()},
        vms=vms,
    )
    for vm in world.vms.values():
        check_vm(vm)
    for step in steps:
        if step[0] == "poll":
            run_poll(world, step)
        else:
            run_engine(world, step)


@settings(max_examples=200, deadline=None)
@given(vms=initial_vms, reports=st.lists(st.lists(vm_reports, max_size=5), min_size=2, max_size=6))
def test_older_report_after_a_newer_one_is_stale(vms, reports):
    world = World(states={h: HostState(host_id=h, status=HostStatus.Up) for h in HOSTS}, vms=vms)
    newest = HostReport(host_id="h1", fetched_at=2000.0, vms=tuple(reports[0]), vms_full=True)
    snap = world.snapshot("h1")
    after = apply_analysis(snap, analyze(snap, newest, 2001.0, POLICY))
    for rows in reports[1:]:
        older = HostReport(host_id="h1", fetched_at=1999.0, vms=tuple(rows), vms_full=True)
        assert analyze(after, older, 2002.0, POLICY) == Analysis(stale=True)
