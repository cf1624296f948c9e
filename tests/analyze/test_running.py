"""A VM reported on its own host: transitions and their reasons, runtime fields, checks."""

from __future__ import annotations

import pytest

from tests.analyze.builders import POLICY, events_of, names, report, run, snapshot, up, vm, vm_after
from vurti.domain.events import (
    BalloonNotWorking,
    GuestMemoryLow,
    VmNicStateChanged,
    VmPaused,
    VmStateChanged,
    WatchdogEvent,
)
from vurti.domain.report import NicStats, VmStats, Watchdog
from vurti.domain.status import VmStatus

TRANSITIONS = [
    # stored status, stored pause code, reported, expected status, reason, extra events
    ("unknown -> up", VmStatus.Unknown, None, up(), VmStatus.Up, "restored from unknown", []),
    ("power down failed", VmStatus.PoweringDown, None, up(), VmStatus.Up, "power down failed", []),
    ("recovered from error", VmStatus.Paused, "EIO", up(), VmStatus.Up, "recovered from error", []),
    ("user pause resumed", VmStatus.Paused, "NOERR", up(), VmStatus.Up, None, []),
    ("guest reboot", VmStatus.Up, None, up(status=VmStatus.RebootInProgress), VmStatus.RebootInProgress,
     "guest reboot", []),
    ("powering up -> up", VmStatus.PoweringUp, None, up(), VmStatus.Up, None, []),
    ("monitor stuck", VmStatus.Up, None, up(monitor_response=-1), VmStatus.NotResponding, None, ["VmNotResponding"]),
    ("paused on ENOSPC", VmStatus.Up, None, up(status=VmStatus.Paused, pause_code="ENOSPC"), VmStatus.Paused, None,
     ["VmPaused"]),
    ("migration failed", VmStatus.MigratingFrom, None, up(), VmStatus.Up, "migration failed", ["VmMigrationFailed"]),
]


@pytest.mark.parametrize(
    "stored, pause_code, reported, expected, reason, extra",
    [c[1:] for c in TRANSITIONS],
    ids=[c[0] for c in TRANSITIONS],
)
def test_transition(stored, pause_code, reported, expected, reason, extra):
    snap = snapshot(vms=(vm(status=stored, pause_code=pause_code),))
    analysis = run(snap, report((reported,)))
    assert vm_after(analysis, snap).status == expected
    [changed] = events_of(analysis, VmStateChanged)
    assert (changed.old, changed.new, changed.reason) == (stored.name, expected.name, reason)
    assert sorted(n for n in names(analysis) if n != "VmStateChanged") == sorted(extra)


MONITOR_CASES = [
    # stored status, report kind, reported monitorResponse, expected status
    ("short list says nothing of the monitor", VmStatus.NotResponding, {"vms_full": False}, None,
     VmStatus.NotResponding),
    ("full list without monitorResponse", VmStatus.NotResponding, {}, None, VmStatus.NotResponding),
    ("push says nothing of the monitor", VmStatus.NotResponding, {"partial": True}, None, VmStatus.NotResponding),
    ("monitor answers again", VmStatus.NotResponding, {}, 0, VmStatus.Up),
    ("still stuck", VmStatus.NotResponding, {}, -1, VmStatus.NotResponding),
    ("up, short list", VmStatus.Up, {"vms_full": False}, None, VmStatus.Up),
    ("up, stuck", VmStatus.Up, {}, -1, VmStatus.NotResponding),
]


@pytest.mark.parametrize("stored, kind, monitor, expected", [c[1:] for c in MONITOR_CASES],
                         ids=[c[0] for c in MONITOR_CASES])
def test_absent_monitor_response_is_unknown_not_a_change(stored, kind, monitor, expected):
    snap = snapshot(vms=(vm(status=stored),))
    analysis = run(snap, report((up(monitor_response=monitor),), **kind))
    assert vm_after(analysis, snap).status == expected
    assert bool(events_of(analysis, VmStateChanged)) == (stored != expected)


def test_not_responding_settles_over_short_and_statistics_polls():
    """Short list, statistics poll (still stuck), short list: one transition, not three."""
    snap = snapshot(vms=(vm(),))
    changes = 0
    for i, (monitor, full) in enumerate([(-1, True), (None, False), (-1, True), (None, False)]):
        analysis = run(snap, report((up(monitor_response=monitor, status_time=i),), vms_full=full,
                                    fetched_at=1000.0 + i))
        changes += len(events_of(analysis, VmStateChanged))
        snap = snapshot(analysis.host or snap.state, tuple(vm_after(analysis, snap, v) for v in snap.vms))
    assert snap.vms["v1"].status == VmStatus.NotResponding and changes == 1


def test_unchanged_vm_is_not_in_the_analysis():
    snap = snapshot(vms=(vm(),))
    analysis = run(snap, report((up(),)))
    assert (analysis.vms, analysis.events, analysis.commands) == ((), (), ())


def test_pause_code_change_while_paused_is_audited():
    snap = snapshot(vms=(vm(status=VmStatus.Paused, pause_code="ENOSPC"),))
    analysis = run(snap, report((up(status=VmStatus.Paused, pause_code="EIO"),)))
    assert [e.pause_code for e in events_of(analysis, VmPaused)] == ["EIO"]


RUNTIME_CASES = [
    # full poll replaces (missing = empty); short list / push keeps what it does not carry
    ("full poll sets", {"vms_full": True}, up(client_ip="10.1.1.1", guest_ips="10.2.2.2", hash="7"),
     ("10.1.1.1", "10.2.2.2", "7")),
    ("full poll clears", {"vms_full": True}, up(), (None, None, None)),
    ("short list keeps", {"vms_full": False}, up(), ("10.0.0.1", "10.0.0.2", "1")),
    ("push keeps what it does not carry", {"vms_full": True, "partial": True}, up(hash="9"),
     ("10.0.0.1", "10.0.0.2", "9")),
]


@pytest.mark.parametrize("kind, reported, expected", [c[1:] for c in RUNTIME_CASES], ids=[c[0] for c in RUNTIME_CASES])
def test_runtime_fields(kind, reported, expected):
    snap = snapshot(vms=(vm(client_ip="10.0.0.1", guest_ips="10.0.0.2", hash="1"),))
    after = vm_after(run(snap, report((reported,), **kind)), snap)
    assert (after.client_ip, after.guest_ips, after.hash) == expected


WATCHDOG_CASES = [
    ("first watchdog", None, Watchdog("reset", 50.0), True, 50.0),
    ("newer watchdog", 40.0, Watchdog("reset", 50.0), True, 50.0),
    ("same watchdog", 50.0, Watchdog("reset", 50.0), False, 50.0),
    ("no watchdog", 50.0, None, False, 50.0),
    ("watchdog without an action", 40.0, Watchdog(None, 50.0), True, 50.0),
]


@pytest.mark.parametrize("last, watchdog, fired, stored", [c[1:] for c in WATCHDOG_CASES],
                         ids=[c[0] for c in WATCHDOG_CASES])
def test_watchdog(last, watchdog, fired, stored):
    snap = snapshot(vms=(vm(last_watchdog_time=last),))
    analysis = run(snap, report((up(watchdog=watchdog),)))
    assert [e.action for e in events_of(analysis, WatchdogEvent)] == ([watchdog.action or ""] if fired else [])
    assert vm_after(analysis, snap).last_watchdog_time == stored


MEMORY_CASES = [
    ("becomes low", False, VmStats(guest_mem_free=40, guest_mem_total=1000), True, True),
    ("stays low", True, VmStats(guest_mem_free=40, guest_mem_total=1000), False, True),
    ("recovers", True, VmStats(guest_mem_free=500, guest_mem_total=1000), False, False),
    ("at the threshold is not low", False, VmStats(guest_mem_free=50, guest_mem_total=1000), False, False),
    ("no guest figures", True, VmStats(), False, True),
]


@pytest.mark.parametrize("was_low, vm_stats, warned, low", [c[1:] for c in MEMORY_CASES],
                         ids=[c[0] for c in MEMORY_CASES])
def test_guest_memory(was_low, vm_stats, warned, low):
    assert POLICY.guest_mem_low_percent == 5.0
    snap = snapshot(vms=(vm(guest_mem_low=was_low),))
    analysis = run(snap, report((up(stats=vm_stats),)))
    assert bool(events_of(analysis, GuestMemoryLow)) == warned
    assert vm_after(analysis, snap).guest_mem_low == low


BALLOON_CASES = [
    ("first miss", 0, VmStats(balloon_cur=4_000_000, balloon_target=2_000_000), False, 1),
    ("second miss warns", 1, VmStats(balloon_cur=4_000_000, balloon_target=2_000_000), True, 2),
    ("still stuck: no flood", 2, VmStats(balloon_cur=4_000_000, balloon_target=2_000_000), False, 2),
    ("within tolerance", 2, VmStats(balloon_cur=2_005_000, balloon_target=2_000_000), False, 0),
    ("no balloon info", 1, VmStats(), False, 1),
]


@pytest.mark.parametrize("misses, vm_stats, warned, after_misses", [c[1:] for c in BALLOON_CASES],
                         ids=[c[0] for c in BALLOON_CASES])
def test_balloon(misses, vm_stats, warned, after_misses):
    snap = snapshot(vms=(vm(balloon_misses=misses),))
    analysis = run(snap, report((up(stats=vm_stats),)))
    assert bool(events_of(analysis, BalloonNotWorking)) == warned
    assert vm_after(analysis, snap).balloon_misses == after_misses


NIC_CASES = [
    ("first sample recorded silently", (), (NicStats("vnet0", "up"),), [], (("vnet0", "up"),)),
    ("link down", (("vnet0", "up"),), (NicStats("vnet0", "down"),), [("vnet0", "up", "down")], (("vnet0", "down"),)),
    ("new nic recorded", (("vnet0", "up"),), (NicStats("vnet0", "up"), NicStats("vnet1", "up")), [],
     (("vnet0", "up"), ("vnet1", "up"))),
    ("no samples keeps", (("vnet0", "up"),), (), [], (("vnet0", "up"),)),
]


@pytest.mark.parametrize("old, nics, changes, stored", [c[1:] for c in NIC_CASES], ids=[c[0] for c in NIC_CASES])
def test_nic_state(old, nics, changes, stored):
    snap = snapshot(vms=(vm(nic_states=old),))
    analysis = run(snap, report((up(stats=VmStats(nics=nics)),)))
    assert [(e.nic, e.old, e.new) for e in events_of(analysis, VmNicStateChanged)] == changes
    assert vm_after(analysis, snap).nic_states == stored


def test_every_event_is_about_this_host_at_now():
    snap = snapshot(vms=(vm(status=VmStatus.Unknown), vm("v2")))
    analysis = run(snap, report((up(watchdog=Watchdog("none", 1.0)), up("v3"))), now=4242.0)
    assert analysis.events
    assert {(e.host_id, e.at) for e in analysis.events} == {("h1", 4242.0)}
