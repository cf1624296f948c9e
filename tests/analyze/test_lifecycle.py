"""VMs that appear (external), go Down, disappear; invalid data; staleness; statistics."""

from __future__ import annotations

import pytest

from tests.analyze.builders import (
    NOW,
    POLICY,
    H,
    down,
    failed,
    host,
    names,
    report,
    run,
    snapshot,
    stats,
    up,
    vm,
    vm_after,
)
from vurti.analyze import apply_analysis
from vurti.analyze.lifecycle import NOT_FOUND
from vurti.domain.analysis import Analysis
from vurti.domain.commands import DestroyVm
from vurti.domain.events import InvalidVmData, VmAnalysisFailed, VmDown
from vurti.domain.model import HostConfig, replace
from vurti.domain.report import VmStats
from vurti.domain.status import HostStatus, VmStatus

# ---- unknown to the engine -------------------------------------------------------------

OVIRT_DESTROYS = replace(POLICY, destroy_paused_vms=True)

EXTERNAL_CASES = [
    ("running -> external", up("x", name="ext"), POLICY, True, []),
    ("migrating in -> external", up("x", VmStatus.MigratingTo), POLICY, True, []),
    ("paused on ENOSPC -> external", up("x", VmStatus.Paused, pause_code="ENOSPC"), POLICY, True, []),
    ("down -> destroyed only", down("x"), POLICY, False, [DestroyVm("h1", "x", "unknown VM down")]),
    ("paused on EIO -> external, never destroyed by default", up("x", VmStatus.Paused, pause_code="EIO"), POLICY,
     True, []),
    ("paused on EIO, oVirt's rule on -> destroyed only", up("x", VmStatus.Paused, pause_code="EIO"),
     OVIRT_DESTROYS, False, [DestroyVm("h1", "x", "unknown VM paused on EIO")]),
]


@pytest.mark.parametrize("reported, policy, registered, commands", [c[1:] for c in EXTERNAL_CASES],
                         ids=[c[0] for c in EXTERNAL_CASES])
def test_unknown_vm(reported, policy, registered, commands):
    analysis = run(snapshot(), report((reported,)), policy=policy)
    assert list(analysis.commands) == commands
    if registered:
        [new] = analysis.vms
        assert (new.vm_id, new.host_id, new.managed, new.status) == ("x", "h1", False, reported.status)
        assert new.name == (reported.name or "")
        assert names(analysis) == ["ExternalVmDiscovered"]
        assert analysis.events[0].status == reported.status.name
    else:
        assert analysis.vms == () and analysis.events == ()


# ---- Down reported ------------------------------------------------------------------------

DOWN_CASES = [
    # stored status, report, expected status, VmDown?, expected event names
    ("normal shutdown", VmStatus.Up, down(code=0, reason=7, message="user shutdown"), VmStatus.Down, True),
    ("crash", VmStatus.Up, down(code=1, reason=2, message="lost qemu"), VmStatus.Down, True),
    ("from unknown", VmStatus.Unknown, down(code=1, reason=1), VmStatus.Down, True),
    ("powering down", VmStatus.PoweringDown, down(code=0, reason=6), VmStatus.Down, True),
    ("hibernated", VmStatus.SavingState, down(code=0, reason=5), VmStatus.Suspended, False),
    # SavingState never seen (a short one between polls, its event late or reordered): the exit
    # reason says the state was saved.
    ("hibernated, saving unseen", VmStatus.Up, down(code=0, reason=5), VmStatus.Suspended, False),
    # oVirt stores Suspended either way; the failure is told by its event (VmDown, error).
    ("hibernation failed", VmStatus.SavingState, down(code=1, reason=1, message="no space"), VmStatus.Suspended, True),
]


@pytest.mark.parametrize("stored, reported, expected, vm_down", [c[1:] for c in DOWN_CASES],
                         ids=[c[0] for c in DOWN_CASES])
def test_down_on_own_host(stored, reported, expected, vm_down):
    snap = snapshot(vms=(vm(status=stored, client_ip="10.0.0.9"),))
    analysis = run(snap, report((reported,)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.client_ip) == (expected, None, None)
    assert (after.exit_code, after.exit_reason) == (reported.exit_code, reported.exit_reason)
    assert ("VmDown" in names(analysis)) == vm_down
    assert "VmStateChanged" in names(analysis)
    assert analysis.commands == (DestroyVm("h1", "v1", "down recorded"),)
    if vm_down:
        [event] = [e for e in analysis.events if isinstance(e, VmDown)]
        assert event.is_error == (reported.exit_code == 1)
        assert event.severity == ("error" if reported.exit_code == 1 else "normal")


EXIT_REASON_WORDS = [
    # wire exitReason, the name the audit line gives it (vdsm vmexitreason.py, the engine's VmExitReason)
    (12, "PostcopyMigrationFailed"),
    (13, "DestroyedOnReboot"),
    (14, "DestroyedOnPauseTimeout"),
]


@pytest.mark.parametrize("reason, name", EXIT_REASON_WORDS, ids=[n for _, n in EXIT_REASON_WORDS])
def test_exit_reason_is_named_as_vdsm_names_it(reason, name):
    snap = snapshot(vms=(vm(),))
    analysis = run(snap, report((down(code=1, reason=reason, message="bye"),)))
    [event] = [e for e in analysis.events if isinstance(e, VmDown)]
    assert f": {name}, exit code 1" in event.describe()


def test_left_by_migration_to_a_destination_not_known_yet_is_never_down():
    """The source's Down record with exitReason 4 arrives before the destination reports the VM."""
    snap = snapshot(vms=(vm(),))
    analysis = run(snap, report((down(code=0, reason=4, message="Migration succeeded"),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.exit_reason) == (VmStatus.MigratingFrom, H, 4)
    assert names(analysis) == ["VmStateChanged"]  # no VmDown: not a crash
    assert analysis.commands == (DestroyVm("h1", "v1", "down recorded"),)
    again = run(apply_analysis(snap, analysis), report((), fetched_at=NOW + 3), now=NOW + 3)  # record destroyed
    assert (again.vms, again.events) == ((), ())


def test_left_by_migration_then_down_on_its_destination_is_down():
    """The migration's steps unseen (the database was down): the source's "migration succeeded", then a
    Down record from the host it went to. That host ran it: it is Down, not MigratingFrom for good."""
    left = vm(host_id="h2", status=VmStatus.MigratingFrom, exit_code=0, exit_reason=4)
    snap = snapshot(vms=(left,))
    analysis = run(snap, report((down(code=1, reason=2, message="Lost connection with qemu process"),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.exit_code, after.exit_reason) == (VmStatus.Down, None, 1, 2)
    assert "VmDown" in names(analysis) and "VmStateChanged" in names(analysis)
    assert analysis.commands == (DestroyVm("h1", "v1", "down recorded"),)


def test_a_leftover_migration_source_record_does_not_end_a_vm_left_by_migration():
    """A Down record with "migration succeeded" is a source's leftover, not where the VM went."""
    left = vm(host_id="h2", status=VmStatus.MigratingFrom, exit_code=0, exit_reason=4)
    snap = snapshot(vms=(left,))
    analysis = run(snap, report((down(code=0, reason=4, message="Migration succeeded"),)))
    assert analysis.vms == () or vm_after(analysis, snap) == left
    assert analysis.commands == (DestroyVm("h1", "v1", "Down record of a VM not on this host"),)


def test_suspended_then_down_again_unseen_is_down():
    """Restored and down again while no report reached the database: the saved state is gone."""
    saved = vm(host_id=None, status=VmStatus.Suspended, exit_code=0, exit_reason=5)
    snap = snapshot(vms=(saved,))
    analysis = run(snap, report((down(code=0, reason=6, message="Admin shut down from the engine"),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.exit_reason) == (VmStatus.Down, None, 6)
    assert analysis.commands == (DestroyVm("h1", "v1", "down recorded"),)
    # The hibernation's own Down record ("save state succeeded") leaves it Suspended.
    again = run(snap, report((down(code=0, reason=5, message="SaveState succeeded"),)))
    assert again.vms == () or vm_after(again, snap).status is VmStatus.Suspended


def test_hibernation_failure_is_told_by_its_event():
    snap = snapshot(vms=(vm(status=VmStatus.SavingState),))
    analysis = run(snap, report((down(code=1, reason=1, message="no space"),)))
    [changed] = [e for e in analysis.events if type(e).__name__ == "VmStateChanged"]
    [event] = [e for e in analysis.events if isinstance(e, VmDown)]
    assert (changed.new, changed.reason) == ("Suspended", "saving state failed: no space")
    assert event.severity == "error"


def test_down_record_seen_again_only_asks_for_destroy_again():
    snap = snapshot(vms=(vm(),))
    first = run(snap, report((down(code=1, reason=2, status_time=10),)))
    again_snap = snapshot(first.host, first.vms)
    again = run(again_snap, report((down(code=1, reason=2, status_time=20),), fetched_at=NOW + 15))
    assert again.vms == () and again.events == ()
    assert [c.key for c in again.commands] == ["destroy:h1:v1"]


def test_down_record_of_a_vm_on_another_host_is_only_destroyed():
    snap = snapshot(vms=(vm(host_id="h2"),))
    analysis = run(snap, report((down(code=0, reason=4),)))
    assert (analysis.vms, analysis.events) == ((), ())
    assert [c.key for c in analysis.commands] == ["destroy:h1:v1"]


# ---- disappeared ----------------------------------------------------------------------------

DISAPPEARED_CASES = [
    ("went away", VmStatus.Up, {}, VmStatus.Down, "h-none", 1, ["VmStateChanged", "VmDisappeared"]),
    ("unknown and gone", VmStatus.Unknown, {}, VmStatus.Down, "h-none", 1, ["VmStateChanged", "VmDisappeared"]),
    ("powering down done", VmStatus.PoweringDown, {}, VmStatus.Down, "h-none", 0, ["VmStateChanged"]),
    ("reboot then gone", VmStatus.RebootInProgress, {}, VmStatus.Down, "h-none", 0, ["VmStateChanged"]),
    ("migration without destination: aborted", VmStatus.MigratingFrom, {}, VmStatus.Down, "h-none", 1,
     ["VmMigrationAborted", "VmStateChanged", "VmDisappeared"]),
    ("left by migration, record destroyed: waits for the destination", VmStatus.MigratingFrom,
     {"exit_code": 0, "exit_reason": 4}, VmStatus.MigratingFrom, "h1", 0, []),
    ("migration source gone: hand over", VmStatus.MigratingFrom, {"migrating_to_host": "h2"}, VmStatus.MigratingTo,
     "h2", None, ["VmStateChanged"]),
]


@pytest.mark.parametrize("stored, extra, expected, host_id, exit_code, events", [c[1:] for c in DISAPPEARED_CASES],
                         ids=[c[0] for c in DISAPPEARED_CASES])
def test_disappeared(stored, extra, expected, host_id, exit_code, events):
    snap = snapshot(vms=(vm(status=stored, **extra),))
    analysis = run(snap, report(()))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id or "h-none", after.exit_code) == (expected, host_id, exit_code)
    assert names(analysis) == events
    assert "VmDown" not in names(analysis)  # that path logs no VM_DOWN
    assert analysis.commands == ()


def test_disappeared_message():
    snap = snapshot(vms=(vm(),))
    assert vm_after(run(snap, report(())), snap).exit_message == NOT_FOUND


@pytest.mark.parametrize(
    "rep",
    [report((), partial=True), report(None)],
    ids=["partial report", "no VM list"],
)
def test_absent_is_not_disappeared_without_a_full_list(rep):
    snap = snapshot(vms=(vm(),))
    assert run(snap, rep).vms == ()


def test_disappearing_uses_only_this_hosts_vms():
    snap = snapshot(vms=(vm(host_id="h2"), vm("v2", VmStatus.Down, host_id=None)))
    assert run(snap, report(())).vms == ()


# ---- invalid data ---------------------------------------------------------------------------


def test_unknown_status_is_reported_and_the_vm_left_alone():
    bad = up("v1", status=None, vdsm_status="Exploded", problem="unknown VM status 'Exploded'")
    snap = snapshot(vms=(vm("v1"), vm("v2")))
    analysis = run(snap, report((bad, up("v2", VmStatus.Paused))))
    assert [(e.vm_id, e.problem) for e in analysis.events if isinstance(e, InvalidVmData)] == [
        ("v1", "unknown VM status 'Exploded'")
    ]
    assert vm_after(analysis, snap, "v1") == snap.vms["v1"]  # not disappeared, unchanged
    assert vm_after(analysis, snap, "v2").status == VmStatus.Paused  # others analysed


def test_vm_reported_twice_in_one_report():
    analysis = run(snapshot(vms=(vm(),)), report((up(), up(status=VmStatus.Paused))))
    assert [e.problem for e in analysis.events if isinstance(e, InvalidVmData)] == ["VM reported twice in one report"]


# ---- staleness ------------------------------------------------------------------------------


def test_older_report_is_stale():
    snap = snapshot(host(last_report_at=NOW + 5), (vm(),))
    assert run(snap, report(())) == Analysis(stale=True)


def test_same_report_twice_is_a_no_op():
    snap = snapshot(vms=(vm(),))
    rep = report((down(code=1),), stats=stats(), stats_due=True)
    first = run(snap, rep)
    assert first.changes_state
    assert run(snapshot(first.host, tuple({**snap.vms, **{v.vm_id: v for v in first.vms}}.values())), rep) == Analysis()


def test_report_for_another_host_is_ignored():
    assert run(snapshot(), report((), host_id="h9")) == Analysis(stale=True)


STALE_VM_CASES = [
    ("older from same host", 100, "h1", 90, True),
    ("equal from same host", 100, "h1", 100, True),
    ("newer from same host", 100, "h1", 110, False),
    ("older from another host's clock", 100, "h2", 5, False),
    ("no stored time", None, None, 5, False),
    ("no reported time", 100, "h1", None, False),
]


@pytest.mark.parametrize("stored_time, stored_host, reported_time, stale", [c[1:] for c in STALE_VM_CASES],
                         ids=[c[0] for c in STALE_VM_CASES])
def test_vm_staleness_per_reporting_host(stored_time, stored_host, reported_time, stale):
    snap = snapshot(vms=(vm(status_time=stored_time, status_time_host=stored_host),))
    analysis = run(snap, report((up(status=VmStatus.Paused, status_time=reported_time),)))
    assert (vm_after(analysis, snap).status == VmStatus.Up) == stale


def test_stale_vm_is_not_disappeared():
    snap = snapshot(vms=(vm(status_time=100, status_time_host="h1"),))
    assert run(snap, report((up(status_time=50),))).vms == ()


# ---- statistics -----------------------------------------------------------------------------

VM_STATS = VmStats(cpu_user=12.5)

STATS_CASES = [
    ("statistics cycle", True, True, True),
    ("not a statistics cycle", False, True, False),
    ("short VM list", True, False, False),
]


@pytest.mark.parametrize("due, full, saved", [c[1:] for c in STATS_CASES], ids=[c[0] for c in STATS_CASES])
def test_statistics(due, full, saved):
    snap = snapshot(vms=(vm("v1"), vm("v2", VmStatus.Up, host_id="h2")))
    rep = report(
        (up("v1", stats=VM_STATS), up("v2", VmStatus.Paused, stats=VM_STATS), down("v3")),
        stats=stats(),
        stats_due=due,
        vms_full=full,
    )
    analysis = run(snap, rep)
    assert (analysis.host_stats is not None) == due
    # v2 is Paused on h1 while it runs on h2: its copy is not this host's VM.
    assert analysis.vm_stats == ((("v1", VM_STATS),) if saved else ())


def test_no_statistics_from_a_failed_poll():
    analysis = run(snapshot(), failed(stats_due=True))
    assert analysis.host_stats is None and analysis.vm_stats == ()



def test_a_vm_whose_analysis_fails_does_not_stop_the_others():
    weird = up("v1", status=VmStatus.Up, status_time="not a number")  # type: ignore[arg-type]
    snap = snapshot(vms=(vm("v1", status_time=5, status_time_host="h1"), vm("v2")))
    analysis = run(snap, report((weird, up("v2", VmStatus.Paused))))
    # Data the parser should have refused reached a rule: a bug, told apart from bad agent data.
    assert [e.vm_id for e in analysis.events if isinstance(e, VmAnalysisFailed)] == ["v1"]
    assert vm_after(analysis, snap, "v1") == snap.vms["v1"]
    assert vm_after(analysis, snap, "v2").status == VmStatus.Paused


# ---- a Down record from the host a VM went to, seen before its source's "migration succeeded" ----

CRASH = down(code=1, reason=2, message="Lost connection with qemu process")
LEFT = down(code=0, reason=4, message="Migration succeeded")


def _on(host_id: str, snap_vms: dict, rows: tuple, now: float):
    """One host's full report applied to the stored VMs; returns (analysis, VMs after)."""
    snap = replace(
        snapshot(vms=tuple(snap_vms.values()), host_statuses=dict.fromkeys(("h1", "h2", "h3"), HostStatus.Up)),
        config=HostConfig(id=host_id, name=host_id, cluster_id="c1", url=f"http://{host_id}"),
        state=replace(host(), host_id=host_id),
    )
    analysis = run(snap, report(rows, host_id=host_id, fetched_at=now), now=now)
    return analysis, dict(apply_analysis(snap, analysis).vms)


DOWN_ELSEWHERE_STORIES = [
    # (id, steps: (host, rows), final (status, host), exit code, events over the story)
    ("migrated and down on its destination, that Down record first: Down",
     [("h1", (CRASH,)), ("h2", (LEFT,))], (VmStatus.Down, None), 1, ["VmStateChanged", "VmDown"]),
    ("the other order: Down (already a rule)",
     [("h2", (LEFT,)), ("h1", (CRASH,))], (VmStatus.Down, None), 1, ["VmStateChanged", "VmStateChanged", "VmDown"]),
    ("a failed migration's copy is no evidence: never Down",
     [("h1", (down(code=1, reason=8),)), ("h2", (LEFT,))], (VmStatus.MigratingFrom, "h2"), 0, ["VmStateChanged"]),
    ("a migration source's leftover is no evidence: never Down",
     [("h1", (LEFT,)), ("h2", (LEFT,))], (VmStatus.MigratingFrom, "h2"), 0, ["VmStateChanged"]),
    ("the evidence alone changes nothing",
     [("h1", (CRASH,))], (VmStatus.Up, "h2"), None, []),
    ("its host reports it running afterwards: the evidence is dropped, never Down",
     [("h1", (CRASH,)), ("h2", (up(),)), ("h2", (LEFT,))], (VmStatus.MigratingFrom, "h2"), 0, ["VmStateChanged"]),
    ("resolved Down, then found running on a third host: Up there",
     [("h1", (CRASH,)), ("h2", (LEFT,)), ("h3", (up(),))], (VmStatus.Up, "h3"), None,
     ["VmStateChanged", "VmDown", "VmStateChanged"]),
]


@pytest.mark.parametrize(
    "steps,final,exit_code,events", [s[1:] for s in DOWN_ELSEWHERE_STORIES], ids=[s[0] for s in DOWN_ELSEWHERE_STORIES]
)
def test_a_down_record_from_another_host_is_evidence_for_a_later_migration_succeeded(steps, final, exit_code, events):
    """A VM migrates h2 -> h1 and goes down on h1 while no report reaches the database; afterwards
    h1's Down record is applied first (the VM still Up on h2 in the database), then h2's "migration
    succeeded". Nothing will report the VM again: it must not stay MigratingFrom for good."""
    vms = {"v1": vm(host_id="h2", status=VmStatus.Up)}
    seen: list[str] = []
    for i, (host_id, rows) in enumerate(steps):
        analysis, vms = _on(host_id, vms, rows, NOW + 10 * i)
        seen += names(analysis)
        if rows and rows[0].status is VmStatus.Down:
            assert [c.host_id for c in analysis.commands] == [host_id]  # the record is destroyed
    after = vms["v1"]
    assert ((after.status, after.host_id), after.exit_code) == (final, exit_code)
    assert [n for n in seen if n in ("VmStateChanged", "VmDown")] == events


def test_the_evidence_is_kept_once_and_cleared_when_the_vm_stops():
    vms = {"v1": vm(host_id="h2", status=VmStatus.Up)}
    first, vms = _on("h1", vms, (CRASH,), NOW)
    assert (vms["v1"].down_seen_on_host, vms["v1"].down_seen_at, first.events) == ("h1", NOW, ())
    assert vms["v1"].status_time_host is None  # not applied as h1's report of the VM
    again, vms = _on("h1", vms, (CRASH,), NOW + 10)  # still listed: the destroy not done yet
    assert again.vms == () and vms["v1"].down_seen_at == NOW
    _, vms = _on("h2", vms, (LEFT,), NOW + 20)
    assert (vms["v1"].down_seen_on_host, vms["v1"].down_seen_at) == (None, None)
    assert vms["v1"].exit_message == "migrated to host h1 and went down there (its Down record came first)"
