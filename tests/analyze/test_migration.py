"""Migrations seen from both ends, in every order the reports can arrive."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, POLICY, H, down, events_of, names, report, run, snapshot, up, vm, vm_after
from vurti.analyze import analyze, apply_analysis
from vurti.domain.commands import DestroyVm
from vurti.domain.events import VmMigrationAborted, VmMigrationEnded, VmMigrationFailed, VmMigrationStarted
from vurti.domain.model import HostConfig, replace
from vurti.domain.status import HostStatus, VmStatus

MIGRATING = {"status": VmStatus.MigratingFrom, "migrating_to_host": "h2"}
MIGRATING_FROM_H2 = {"status": VmStatus.MigratingFrom, "migrating_to_host": "h1"}


def ended(analysis):
    return [(e.source_host_id, e.destination_host_id) for e in events_of(analysis, VmMigrationEnded)]


# ---- on the source (h1 is the VM's host) ------------------------------------------------------


def test_source_reports_migration_source():
    snap = snapshot(vms=(vm(migrating_to_host=None),))
    analysis = run(snap, report((up(status=VmStatus.MigratingFrom),)))
    assert vm_after(analysis, snap).status == VmStatus.MigratingFrom
    assert names(analysis) == ["VmMigrationStarted", "VmStateChanged"]


def test_engine_started_migration_keeps_its_destination():
    snap = snapshot(vms=(vm(status=VmStatus.Up, migrating_to_host="h2"),))
    analysis = run(snap, report((up(status=VmStatus.MigratingFrom),)))
    assert [e.destination_host_id for e in events_of(analysis, VmMigrationStarted)] == ["h2"]


HAND_OVER_CASES = [
    ("destination up", HostStatus.Up, VmStatus.MigratingTo),
    ("destination connecting", HostStatus.Connecting, VmStatus.MigratingTo),
    ("destination non responsive", HostStatus.NonResponsive, VmStatus.Unknown),
]


@pytest.mark.parametrize("dest_status, expected", [c[1:] for c in HAND_OVER_CASES], ids=[c[0] for c in HAND_OVER_CASES])
def test_source_down_migration_succeeded_hands_over(dest_status, expected):
    snap = snapshot(vms=(vm(**MIGRATING),), host_statuses={"h2": dest_status})
    analysis = run(snap, report((down(code=0, reason=4, message="Migration succeeded"),)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status, after.migrating_to_host, after.migrating_from_host) == (
        "h2",
        expected,
        None,
        H,
    )
    assert "VmDown" not in names(analysis)  # not a crash
    assert analysis.commands == (DestroyVm(H, "v1", "down recorded"),)


def test_source_crash_during_migration_aborts_it():
    snap = snapshot(vms=(vm(**MIGRATING),), host_names={"h2": "host-two"})
    analysis = run(snap, report((down(code=1, reason=8, message="Migration failed"),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.migrating_to_host) == (VmStatus.Down, None, None)
    assert "VmDown" in names(analysis)
    [aborted] = events_of(analysis, VmMigrationAborted)
    assert aborted.severity == "error"
    assert aborted.describe() == "VM v1 migration from host h1 to host host-two aborted: Migration failed"
    assert {c.host_id for c in analysis.commands} == {"h1", "h2"}  # both copies destroyed


def test_source_runs_it_again_migration_failed():
    snap = snapshot(vms=(vm(**MIGRATING),))
    analysis = run(snap, report((up(status=VmStatus.Up),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.host_id, after.migrating_to_host) == (VmStatus.Up, H, None)
    assert [e.destination_host_id for e in events_of(analysis, VmMigrationFailed)] == ["h2"]


POSTCOPY_CASES = [
    # destination's status, expected status of the VM there
    ("destination up", HostStatus.Up, VmStatus.MigratingTo),
    ("destination non responsive", HostStatus.NonResponsive, VmStatus.Unknown),
]


@pytest.mark.parametrize("dest_status, expected", [c[1:] for c in POSTCOPY_CASES], ids=[c[0] for c in POSTCOPY_CASES])
def test_postcopy_pause_on_the_source_is_the_hand_over(dest_status, expected):
    snap = snapshot(vms=(vm(**MIGRATING),), host_statuses={"h2": dest_status})
    analysis = run(snap, report((up(status=VmStatus.Paused, pause_code="POSTCOPY"),)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status, after.migrating_from_host, after.pause_code) == ("h2", expected, H, None)
    assert names(analysis) == ["VmStateChanged"] and analysis.commands == ()  # not a pause, never destroyed


def test_postcopy_pause_without_a_known_destination_stays_a_migration_source():
    snap = snapshot(vms=(vm(status=VmStatus.MigratingFrom),))
    analysis = run(snap, report((up(status=VmStatus.Paused, pause_code="POSTCOPY"),)))
    assert (analysis.vms, analysis.events, analysis.commands) == ((), (), ())


# ---- on the destination (h1 is the destination; the VM's host is h2) ------------------------------


DEST_CASES = [
    # stored VM (on h2), h1 reports, expected host_id, status, migrating_to_host, ended?
    ("migrating in: ignored", dict(MIGRATING, migrating_to_host=H), up(status=VmStatus.MigratingTo),
     "h2", VmStatus.MigratingFrom, H, False),
    ("external migration: destination learned", {"status": VmStatus.MigratingFrom}, up(status=VmStatus.MigratingTo),
     "h2", VmStatus.MigratingFrom, H, False),
    ("source already left it: handed over here", {"status": VmStatus.MigratingFrom, "exit_code": 0, "exit_reason": 4},
     up(status=VmStatus.MigratingTo), H, VmStatus.MigratingTo, None, False),
    ("source already left it: destination up ends it", {"status": VmStatus.MigratingFrom, "exit_code": 0, "exit_reason": 4},
     up(), H, VmStatus.Up, None, True),
    ("destination up: ended", dict(MIGRATING, migrating_to_host=H), up(), H, VmStatus.Up, None, True),
    ("destination up, destination unknown before: ended", {"status": VmStatus.MigratingFrom}, up(), H, VmStatus.Up,
     None, True),
    ("destination powering down: ended", dict(MIGRATING, migrating_to_host=H), up(status=VmStatus.PoweringDown), H,
     VmStatus.PoweringDown, None, True),
    ("source still says migration source: ignored", {"status": VmStatus.Up}, up(status=VmStatus.MigratingFrom), "h2",
     VmStatus.Up, None, False),
    ("post-copy leftover: ignored", {"status": VmStatus.Up}, up(status=VmStatus.Paused, pause_code="POSTCOPY"), "h2",
     VmStatus.Up, None, False),
]


@pytest.mark.parametrize(
    "stored, reported, host_id, status, to_host, migration_ended",
    [c[1:] for c in DEST_CASES],
    ids=[c[0] for c in DEST_CASES],
)
def test_reported_by_the_destination(stored, reported, host_id, status, to_host, migration_ended):
    snap = snapshot(vms=(vm(host_id="h2", **stored),))
    analysis = run(snap, report((reported,)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status, after.migrating_to_host) == (host_id, status, to_host)
    assert ended(analysis) == ([("h2", H)] if migration_ended else [])
    assert analysis.commands == ()


def test_handed_over_vm_becomes_up_on_the_destination():
    snap = snapshot(vms=(vm(status=VmStatus.MigratingTo, migrating_from_host="h2"),))
    analysis = run(snap, report((up(),)))
    after = vm_after(analysis, snap)
    assert (after.status, after.migrating_from_host) == (VmStatus.Up, None)
    assert ended(analysis) == [("h2", H)]


def test_handed_over_vm_still_migrating_in_changes_nothing():
    snap = snapshot(vms=(vm(status=VmStatus.MigratingTo, migrating_from_host="h2"),))
    assert run(snap, report((up(status=VmStatus.MigratingTo),))).events == ()


def test_handed_over_to_unknown_then_restored_ends_the_migration():
    snap = snapshot(vms=(vm(status=VmStatus.Unknown, migrating_from_host="h2"),))
    analysis = run(snap, report((up(),)))
    assert ended(analysis) == [("h2", H)]


def test_left_by_migration_then_found_on_the_destination():
    # The source said "migration succeeded" before anyone knew where the VM went.
    snap = snapshot(vms=(vm(status=VmStatus.Down, host_id=None, exit_code=0, exit_reason=4, migrating_from_host="h2"),))
    analysis = run(snap, report((up(),)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status, after.migrating_from_host) == (H, VmStatus.Up, None)
    assert ended(analysis) == [("h2", H)]


def test_failed_migration_copy_on_the_destination_is_only_destroyed():
    snap = snapshot(vms=(vm(host_id="h2", **dict(MIGRATING, migrating_to_host=H)),))
    analysis = run(snap, report((down(code=1, reason=8),)))
    assert (analysis.vms, analysis.events) == ((), ())
    assert analysis.commands == (DestroyVm(H, "v1", "Down record of a VM not on this host"),)


def test_source_leftover_after_the_destination_took_over():
    snap = snapshot(vms=(vm(host_id="h2", status=VmStatus.Up),))
    analysis = run(snap, report((down(code=0, reason=4),)))
    assert (analysis.vms, analysis.events) == ((), ())
    assert [c.key for c in analysis.commands] == ["destroy:h1:v1"]


# ---- a VM reported by another host outside a migration --------------------------------------------

OTHER_HOST_CASES = [
    ("paused copy while running elsewhere: left alone by default", VmStatus.Up, "h2",
     up(status=VmStatus.Paused, pause_code="EIO"), "h2", VmStatus.Up, []),
    ("paused while unknown elsewhere: ignored", VmStatus.Unknown, "h2", up(status=VmStatus.Paused), "h2",
     VmStatus.Unknown, []),
    ("up while unknown elsewhere: restored here", VmStatus.Unknown, "h2", up(), H, VmStatus.Up, []),
    ("powering up while up elsewhere: ignored", VmStatus.Up, "h2", up(status=VmStatus.PoweringUp), "h2", VmStatus.Up,
     []),
    ("running while down in the DB: moves here", VmStatus.Down, None, up(status=VmStatus.PoweringUp), H,
     VmStatus.PoweringUp, []),
]


@pytest.mark.parametrize(
    "stored, stored_host, reported, host_id, status, commands",
    [c[1:] for c in OTHER_HOST_CASES],
    ids=[c[0] for c in OTHER_HOST_CASES],
)
def test_reported_on_another_host(stored, stored_host, reported, host_id, status, commands):
    snap = snapshot(vms=(vm(status=stored, host_id=stored_host),))
    analysis = run(snap, report((reported,)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status) == (host_id, status)
    assert [c.key for c in analysis.commands] == commands
    assert ended(analysis) == []


def test_paused_copy_while_running_elsewhere_is_destroyed_only_with_ovirts_rule():
    snap = snapshot(vms=(vm(status=VmStatus.Up, host_id="h2"),))
    analysis = run(snap, report((up(status=VmStatus.Paused, pause_code="EIO"),)),
                   policy=replace(POLICY, destroy_paused_vms=True))
    assert [c.key for c in analysis.commands] == ["destroy:h1:v1"]
    assert vm_after(analysis, snap).host_id == "h2"


def test_up_while_up_elsewhere_is_a_migration_no_poll_saw_start():
    """Destination reports Up before any poll saw the source migrating: the VM moved, a migration ended."""
    snap = snapshot(vms=(vm(status=VmStatus.Up, host_id="h2"),))
    analysis = run(snap, report((up(),)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status) == (H, VmStatus.Up)
    assert ended(analysis) == [("h2", H)]
    assert analysis.commands == ()


def test_full_migration_sequence_source_first():
    """Source h1: Migration Source -> Down(4); destination h2: Up. One VM, one host at a time."""
    src = snapshot(vms=(vm(**MIGRATING),))
    a1 = run(src, report((up(status=VmStatus.MigratingFrom, status_time=1),)))
    src = apply_analysis(src, a1)
    a2 = run(src, report((down(code=0, reason=4, status_time=2),), fetched_at=NOW + 3), now=NOW + 3)
    src = apply_analysis(src, a2)
    handed = src.vms["v1"]
    assert (handed.host_id, handed.status) == ("h2", VmStatus.MigratingTo)

    dst = replace(
        src,
        config=HostConfig(id="h2", name="h2", cluster_id="c1", url="http://h2"),
        state=replace(src.state, host_id="h2", last_report_at=None),
    )
    a3 = analyze(dst, report((up(status_time=7),), host_id="h2", fetched_at=NOW + 4), NOW + 4, POLICY)
    assert [(e.source_host_id, e.destination_host_id) for e in events_of(a3, VmMigrationEnded)] == [("h1", "h2")]
    final = apply_analysis(dst, a3).vms["v1"]
    assert (final.host_id, final.status, final.migrating_from_host, final.migrating_to_host) == (
        "h2",
        VmStatus.Up,
        None,
        None,
    )


def test_postcopy_pause_unseen_migration_is_a_migration_source():
    snap = snapshot(vms=(vm(status=VmStatus.Up),))
    analysis = run(snap, report((up(status=VmStatus.Paused, pause_code="POSTCOPY"),)))
    assert vm_after(analysis, snap).status == VmStatus.MigratingFrom
    assert "VmMigrationStarted" in names(analysis) and "VmPaused" not in names(analysis)


# ---- words people read ------------------------------------------------------------------------------

NAMES = {"h2": "host-two"}
WORDS_CASES = [
    # stored VM, report from h1, a line the audit log must show
    ("migration starts", vm(migrating_to_host="h2"), up(status=VmStatus.MigratingFrom),
     "VM v1 migrating from host h1 to host host-two"),
    ("migration starts, destination unknown", vm(), up(status=VmStatus.MigratingFrom),
     "VM v1 migrating from host h1 to a host not known yet"),
    ("destination reports it", vm(host_id="h2", **MIGRATING_FROM_H2), up(),
     "VM v1 migration from host host-two to host h1 completed"),
    ("handed over", vm(**MIGRATING), down(code=0, reason=4), "handed over to host host-two"),
]


@pytest.mark.parametrize("stored, reported, line", [c[1:] for c in WORDS_CASES], ids=[c[0] for c in WORDS_CASES])
def test_events_name_hosts(stored, reported, line):
    snap = snapshot(vms=(stored,), host_names=NAMES)
    analysis = run(snap, report((reported,)))
    lines = [e.describe() for e in analysis.events]
    assert any(line in text for text in lines), lines
    assert not any("h2" in text for text in lines), lines


ADOPT_CASES = [
    ("down in the DB", {"status": VmStatus.Down, "host_id": None}),
    ("never ran", {"status": VmStatus.Unassigned, "host_id": None}),
]


@pytest.mark.parametrize("stored", [c[1] for c in ADOPT_CASES], ids=[c[0] for c in ADOPT_CASES])
def test_migration_destination_adopts_a_vm_that_runs_nowhere(stored):
    snap = snapshot(vms=(vm(**stored),))
    analysis = run(snap, report((up(status=VmStatus.MigratingTo),)))
    after = vm_after(analysis, snap)
    assert (after.host_id, after.status) == (H, VmStatus.MigratingTo)
    assert analysis.commands == ()


def test_left_by_migration_then_destination_named_and_up():
    """Source's Down(4) first, then the destination reports migrating in, then Up: never Down."""
    src = snapshot(vms=(vm(),), host_names={"h2": "host-two"})
    a1 = run(src, report((down(code=0, reason=4),)))
    left = apply_analysis(src, a1).vms["v1"]
    assert (left.status, left.host_id) == (VmStatus.MigratingFrom, H)
    dst = replace(src, config=HostConfig(id="h2", name="host-two", cluster_id="c1", url="http://h2"),
                  state=replace(src.state, host_id="h2", last_report_at=None), vms={"v1": left},
                  host_names={H: "h1"})
    a2 = analyze(dst, report((up(status=VmStatus.MigratingTo, status_time=5),), host_id="h2"), NOW, POLICY)
    handed = apply_analysis(dst, a2).vms["v1"]
    assert (handed.host_id, handed.status, handed.migrating_from_host) == ("h2", VmStatus.MigratingTo, H)
    assert any("handed over to host host-two" in e.describe() for e in a2.events)
    dst = apply_analysis(dst, a2)
    a3 = analyze(dst, report((up(status_time=9),), host_id="h2", fetched_at=NOW + 3), NOW + 3, POLICY)
    final = apply_analysis(dst, a3).vms["v1"]
    assert (final.host_id, final.status, final.exit_reason) == ("h2", VmStatus.Up, None)
    assert ended(a3) == [(H, "h2")]


def test_a_destination_learnt_leaves_the_vm_on_its_source_clock():
    """The destination's MigratingTo names it (an external migration), but the VM still runs on
    the source: an older report of the source queued meanwhile (Up, from before the migration
    began) is stale by the source's clock, not a failed migration."""
    src = snapshot(vms=(vm(status=VmStatus.MigratingFrom, status_time=100, status_time_host=H),))
    dst = replace(
        src,
        config=HostConfig(id="h2", name="h2", cluster_id="c1", url="http://h2"),
        state=replace(src.state, host_id="h2", last_report_at=None),
    )
    learnt = analyze(dst, report((up(status=VmStatus.MigratingTo, status_time=9_000),), host_id="h2"), NOW, POLICY)
    after = apply_analysis(dst, learnt).vms["v1"]
    assert (after.host_id, after.migrating_to_host, after.status_time_host, after.status_time) == (H, "h2", H, 100)

    src = replace(src, vms={"v1": after})
    older = run(src, report((up(status=VmStatus.Up, status_time=90),), fetched_at=NOW + 1), now=NOW + 1)
    assert vm_after(older, src) == after
    assert "VmMigrationFailed" not in names(older)


def test_a_former_hosts_report_fetched_before_the_vms_newest_data_is_stale():
    """The VM left h2 and runs on h1 now, stamped by h1's report fetched at NOW + 5. A report of
    h2 fetched before that (the VM still Up there), applied late, is older: it moves nothing.
    Fetched after it, the same report is news (a migration back that no poll caught)."""
    on_h1 = vm(status=VmStatus.Up, status_time=500, status_time_host=H, status_fetched_at=NOW + 5)
    h2 = snapshot(vms=(on_h1,))
    h2 = replace(h2, config=HostConfig(id="h2", name="h2", cluster_id="c1", url="http://h2"),
                 state=replace(h2.state, host_id="h2"))
    older = analyze(h2, report((up(status_time=77),), host_id="h2", fetched_at=NOW + 1), NOW + 6, POLICY)
    assert (older.vms, older.events) == ((), ())
    newer = analyze(h2, report((up(status_time=78),), host_id="h2", fetched_at=NOW + 6), NOW + 7, POLICY)
    assert ended(newer) == [(H, "h2")]
