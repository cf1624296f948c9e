"""One migration told by two hosts whose polls interleave, lag and repeat at random.

Physical truth moves through phases; each poll reports the phase at its fetch time.
Whatever the order the engine sees the reports in, a migration ends exactly once:
succeeded -> Up on the destination with one VmMigrationEnded; failed -> Up on the
source with one VmMigrationFailed. Never a VmDown or VmDisappeared on the way.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from vurti.analyze import analyze, apply_analysis
from vurti.domain.model import Cluster, HostConfig, HostSnapshot, HostState, VmState
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import HostStatus, VmStatus

SRC, DST = "h1", "h2"
POLICY = MonitoringPolicy()
CLUSTER = Cluster("c1", "c1")

# phase -> (source's row, destination's row); None: the host does not list the VM.
SUCCESS = [
    (VmReport("v", VmStatus.MigratingFrom), VmReport("v", VmStatus.MigratingTo)),
    (VmReport("v", VmStatus.Down, exit_code=0, exit_reason=4), VmReport("v", VmStatus.Up)),
    (None, VmReport("v", VmStatus.Up)),  # source record destroyed
]
POSTCOPY_SUCCESS = [
    (VmReport("v", VmStatus.MigratingFrom), VmReport("v", VmStatus.MigratingTo)),
    (VmReport("v", VmStatus.Paused, pause_code="POSTCOPY"), VmReport("v", VmStatus.Up)),
    (VmReport("v", VmStatus.Down, exit_code=0, exit_reason=4), VmReport("v", VmStatus.Up)),
    (None, VmReport("v", VmStatus.Up)),
]
FAILURE = [
    (VmReport("v", VmStatus.MigratingFrom), VmReport("v", VmStatus.MigratingTo)),
    (VmReport("v", VmStatus.Up), VmReport("v", VmStatus.Down, exit_code=1, exit_reason=8)),
    (VmReport("v", VmStatus.Up), None),  # destination copy destroyed
]


def run_story(phases, polls, engine_knows_destination):
    states = {h: HostState(host_id=h, status=HostStatus.Up) for h in (SRC, DST)}
    vm = VmState("v", "v", host_id=SRC, status=VmStatus.Up)
    if engine_knows_destination:
        vm = VmState("v", "v", host_id=SRC, status=VmStatus.MigratingFrom, migrating_to_host=DST)
    vms = {"v": vm}
    events: Counter[str] = Counter()
    destroyed: set[str] = set()
    phase_started = [0.0]  # time each phase began
    now = 0.0
    for host, advance, lag in [*polls, (SRC, True, 0), (DST, True, 0), (SRC, False, 0), (DST, False, 0)]:
        now += 10
        if advance and len(phase_started) < len(phases):
            # A Down record stays listed until the engine asked for its destroy (wire rule).
            gone = [h for h, row in zip((SRC, DST), phases[len(phase_started)], strict=True) if row is None]
            if all(h in destroyed for h in gone):
                phase_started.append(now - 5)
        fetched_at = now - lag
        phase = max(i for i, t in enumerate(phase_started) if t <= fetched_at)
        row = phases[phase][0 if host == SRC else 1]
        rows = () if row is None else (VmReport(row.vm_id, row.status, status_time=int(fetched_at * 10),
                                                exit_code=row.exit_code, exit_reason=row.exit_reason,
                                                pause_code=row.pause_code),)
        snap = HostSnapshot(
            cluster=CLUSTER,
            config=HostConfig(host, host, "c1", f"http://{host}"),
            state=states[host],
            vms=dict(vms),
            host_statuses={h: s.status for h, s in states.items() if h != host},
        )
        report = HostReport(host_id=host, fetched_at=fetched_at, vms=rows, vms_full=True)
        analysis = analyze(snap, report, now, POLICY)
        events.update(type(e).__name__ for e in analysis.events)
        destroyed.update(c.host_id for c in analysis.commands)
        after = apply_analysis(snap, analysis)
        states[host], vms = after.state, dict(after.vms)
    return vms["v"], events


polls = st.lists(st.tuples(st.sampled_from([SRC, DST]), st.booleans(), st.sampled_from([0, 0, 4, 8])), max_size=12)


@settings(max_examples=300, deadline=None)
@given(polls=polls, knows=st.booleans(), postcopy=st.booleans())
def test_successful_migration_ends_once_on_the_destination(polls, knows, postcopy):
    vm, events = run_story(POSTCOPY_SUCCESS if postcopy else SUCCESS, polls, knows)
    assert (vm.host_id, vm.status, vm.migrating_to_host, vm.migrating_from_host) == (DST, VmStatus.Up, None, None)
    if knows:
        assert events["VmMigrationEnded"] == 1, events
    else:
        # A migration nobody started and no poll saw in progress (the source's
        # "Migration Source" row never observed) can only be seen as a move.
        assert events["VmMigrationEnded"] <= 1, events
    assert events["VmDown"] == events["VmDisappeared"] == events["VmMigrationFailed"] == 0, events


@settings(max_examples=300, deadline=None)
@given(polls=polls)
def test_failed_migration_keeps_the_vm_on_the_source(polls):
    vm, events = run_story(FAILURE, polls, engine_knows_destination=True)
    assert (vm.host_id, vm.status, vm.migrating_to_host) == (SRC, VmStatus.Up, None)
    assert events["VmMigrationFailed"] == 1, events
    assert events["VmMigrationEnded"] == events["VmDown"] == events["VmDisappeared"] == 0, events
