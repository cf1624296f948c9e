"""Engine-started runs and migrations: confirmed, failed (rerun requested), cancelled, or timed out."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, H, down, events_of, failed, names, report, run, snapshot, up, vm, vm_after
from vurti.analyze import apply_analysis
from vurti.domain.events import EngineOperationCancelled, EngineOperationSucceeded, VmRerunRequested
from vurti.domain.model import OperationKind, PendingOperation
from vurti.domain.status import VmStatus

DEADLINE = NOW + 60


def run_op(host_id: str = H) -> PendingOperation:
    return PendingOperation("v1", OperationKind.RUN, host_id, NOW - 5, DEADLINE)


def migrate_op(source: str = H, destination: str | None = "h2") -> PendingOperation:
    return PendingOperation("v1", OperationKind.MIGRATE, source, NOW - 5, DEADLINE, destination)


STOPPED = vm(status=VmStatus.Down, host_id=None, exit_code=0)

# (id, stored VM, pending operation, reported VMs (None: the poll failed), now, outcome event, operation ended)
CASES = [
    # runs, analysed on the host the VM was started on
    ("run: waiting for launch is not yet a run", STOPPED, run_op(), (up(status=VmStatus.WaitForLaunch),), NOW,
     None, False),
    ("run: powering up confirms it", STOPPED, run_op(), (up(status=VmStatus.PoweringUp),), NOW,
     EngineOperationSucceeded, True),
    ("run: up confirms it", vm(status=VmStatus.WaitForLaunch), run_op(), (up(),), NOW, EngineOperationSucceeded, True),
    ("run: Down record with an error before it ran", STOPPED, run_op(), (down(code=1, reason=3, message="no"),), NOW,
     VmRerunRequested, True),
    ("run: crashed while launching", vm(status=VmStatus.WaitForLaunch), run_op(), (down(code=1, reason=2),), NOW,
     VmRerunRequested, True),
    ("run: went away while launching", vm(status=VmStatus.WaitForLaunch), run_op(), (), NOW, VmRerunRequested, True),
    ("run: shut down normally before it was up", vm(status=VmStatus.WaitForLaunch), run_op(), (down(code=0),), NOW,
     EngineOperationCancelled, True),
    ("run: not reported yet", STOPPED, run_op(), (), NOW, None, False),
    ("run: Unknown on a lost host, launching here", vm(status=VmStatus.Unknown, host_id="h2"), run_op(),
     (up(status=VmStatus.WaitForLaunch),), NOW, None, False),
    ("run: Unknown on a lost host, up here", vm(status=VmStatus.Unknown, host_id="h2"), run_op(), (up(),), NOW,
     EngineOperationSucceeded, True),
    ("run: not reported by its deadline", STOPPED, run_op(), (), DEADLINE + 1, VmRerunRequested, True),
    ("run: host silent past the deadline", STOPPED, run_op(), None, DEADLINE + 1, VmRerunRequested, True),
    # migrations, analysed on the source
    ("migrate: source starts migrating", vm(), migrate_op(), (up(status=VmStatus.MigratingFrom),), NOW, None, False),
    ("migrate: source runs it again", vm(status=VmStatus.MigratingFrom, migrating_to_host="h2"), migrate_op(),
     (up(),), NOW, VmRerunRequested, True),
    ("migrate: source crashes", vm(status=VmStatus.MigratingFrom, migrating_to_host="h2"), migrate_op(),
     (down(code=1, reason=2),), NOW, VmRerunRequested, True),
    ("migrate: succeeded on the source, handed over", vm(status=VmStatus.MigratingFrom, migrating_to_host="h2"),
     migrate_op(), (down(code=0, reason=4),), NOW, None, False),
    ("migrate: still up on the source past the deadline", vm(), migrate_op(), (up(),), DEADLINE + 1,
     VmRerunRequested, True),
    # migrations, analysed on the destination (this host)
    ("migrate: destination runs it", vm(status=VmStatus.MigratingFrom, host_id="h2", migrating_to_host=H),
     migrate_op("h2", H), (up(),), NOW, EngineOperationSucceeded, True),
    ("migrate: destination's copy still migrating in", vm(status=VmStatus.MigratingFrom, host_id="h2",
                                                          migrating_to_host=H),
     migrate_op("h2", H), (up(status=VmStatus.MigratingTo),), NOW, None, False),
    ("migrate: any destination will do", vm(status=VmStatus.MigratingFrom, host_id="h2"), migrate_op("h2", None),
     (up(),), NOW, EngineOperationSucceeded, True),
]


@pytest.mark.parametrize("stored, op, reported, now, outcome, ended", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_pending_operation_outcomes(stored, op, reported, now, outcome, ended):
    snap = snapshot(vms=(stored,), operations=(op,))
    rep = failed(fetched_at=now) if reported is None else report(reported, fetched_at=now)
    analysis = run(snap, rep, now=now)
    kinds = {EngineOperationSucceeded, VmRerunRequested, EngineOperationCancelled}
    assert [type(e) for e in analysis.events if type(e) in kinds] == ([outcome] if outcome else [])
    assert analysis.ended_operations == (("v1",) if ended else ())
    assert "VmRestartRequested" not in names(analysis)
    assert (apply_analysis(snap, analysis).operations == {}) is ended


def test_rerun_names_where_the_vm_should_have_run():
    snap = snapshot(vms=(STOPPED,), operations=(run_op(),))
    [rerun] = events_of(run(snap, report((), fetched_at=DEADLINE + 1), now=DEADLINE + 1), VmRerunRequested)
    assert (rerun.kind, rerun.expected_host_id, rerun.severity) == ("run", H, "error")
    assert rerun.reason == "not running on h1 within 65 s"


def test_ha_vm_whose_run_fails_is_rerun_not_restarted():
    snap = snapshot(vms=(vm(status=VmStatus.PoweringUp, auto_start=True),), operations=(run_op(),))
    analysis = run(snap, report((down(code=1, reason=3),)))
    assert "VmRerunRequested" in names(analysis)
    assert "VmRestartRequested" not in names(analysis)


def test_engine_started_migration_learns_its_destination_from_the_operation():
    snap = snapshot(vms=(vm(),), operations=(migrate_op(),))
    analysis = run(snap, report((up(status=VmStatus.MigratingFrom),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.migrating_to_host) == (VmStatus.MigratingFrom, "h2")
    # ...so the source's "migration succeeded" hands it over there.
    handed = run(apply_analysis(snap, analysis), report((down(code=0, reason=4),), fetched_at=NOW + 1), now=NOW + 1)
    assert (vm_after(handed, snap).host_id, vm_after(handed, snap).status) == ("h2", VmStatus.MigratingTo)


def test_steady_host_without_operations_settles_nothing():
    snap = snapshot(vms=(vm(),))
    analysis = run(snap, report((up(),)))
    assert analysis.ended_operations == ()
