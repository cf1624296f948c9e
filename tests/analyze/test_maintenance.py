"""PreparingForMaintenance -> Maintenance once no VM is left; an administrator's requests."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, down, host, names, report, run, snapshot, up, vm
from vurti.analyze import administer, apply_analysis
from vurti.analyze.maintenance import RequestRefused
from vurti.domain.admin import AdminAction
from vurti.domain.report import HostStats
from vurti.domain.status import HostStatus, VmStatus

P = HostStatus.PreparingForMaintenance

# (id, stored VMs, reported VMs, VDSM's vmCount or None (no statistics), expected status, events)
REACHED_CASES = [
    ("no VM left", (), (), 0, HostStatus.Maintenance, ["HostStatusChanged", "HostMaintenanceReached"]),
    ("no VM left, short poll without statistics", (), (), None, HostStatus.Maintenance,
     ["HostStatusChanged", "HostMaintenanceReached"]),
    ("a VM still runs", (vm(),), (up(),), 1, P, []),
    ("the last VM migrated away (the destination has it)", (vm(status=VmStatus.Up, host_id="h2"),), (), 0,
     HostStatus.Maintenance, ["HostStatusChanged", "HostMaintenanceReached"]),
    ("the last VM went down in this report", (vm(),), (down(),), 0, HostStatus.Maintenance,
     ["VmStateChanged", "VmDown", "HostStatusChanged", "HostMaintenanceReached"]),
    ("VDSM still counts a VM the engine does not know", (), (), 1, P, []),
    ("a VM the engine never saw runs there", (), (up("x"),), 1, P, ["ExternalVmDiscovered"]),
]


@pytest.mark.parametrize("stored, reported, vm_count, expected, events", [c[1:] for c in REACHED_CASES],
                         ids=[c[0] for c in REACHED_CASES])
def test_preparing_for_maintenance_becomes_maintenance_when_no_vm_is_left(stored, reported, vm_count, expected,
                                                                         events):
    stats = HostStats(vm_count=vm_count) if vm_count is not None else None
    analysis = run(snapshot(host(P), stored), report(reported, stats=stats, stats_due=stats is not None))
    assert (analysis.host or host(P)).status == expected
    assert names(analysis) == events


def test_a_failed_poll_or_a_pushed_event_does_not_reach_maintenance():
    from tests.analyze.builders import failed

    snap = snapshot(host(P))
    assert run(snap, failed()).host.status == P
    assert run(snap, report((), partial=True)).host is None


def test_maintenance_is_not_monitored_afterwards():
    snap = apply_analysis(snapshot(host(P)), run(snapshot(host(P)), report((), stats=HostStats())))
    assert snap.state.status == HostStatus.Maintenance
    later = run(snap, report((up(),), fetched_at=NOW + 3), now=NOW + 3)
    assert later.host.status == HostStatus.Maintenance and later.events == () and later.vms == ()


# (id, status, action, expected status or None (nothing to do) or the refusal)
REQUEST_CASES = [
    ("up to preparing", HostStatus.Up, AdminAction.MAINTENANCE, P),
    ("non operational to preparing", HostStatus.NonOperational, AdminAction.MAINTENANCE, P),
    ("non responsive to preparing", HostStatus.NonResponsive, AdminAction.MAINTENANCE, P),
    ("already preparing", P, AdminAction.MAINTENANCE, None),
    ("already in maintenance", HostStatus.Maintenance, AdminAction.MAINTENANCE, None),
    ("installing", HostStatus.Installing, AdminAction.MAINTENANCE, RequestRefused),
    ("activate from maintenance", HostStatus.Maintenance, AdminAction.ACTIVATE, HostStatus.Unassigned),
    ("activate cancels preparing", P, AdminAction.ACTIVATE, HostStatus.Unassigned),
    ("activate an Up host", HostStatus.Up, AdminAction.ACTIVATE, RequestRefused),
]


@pytest.mark.parametrize("status, action, expected", [c[1:] for c in REQUEST_CASES],
                         ids=[c[0] for c in REQUEST_CASES])
def test_administrator_requests(status, action, expected):
    snap = snapshot(host(status, unanswered_attempts=1, nics_down_since=NOW - 5))
    if expected is RequestRefused:
        with pytest.raises(RequestRefused):
            administer(snap, action, NOW)
        return
    analysis = administer(snap, action, NOW)
    if expected is None:
        assert analysis.is_empty
        return
    assert analysis.host.status == expected
    assert names(analysis) == ["HostStatusChanged"]
    assert analysis.events[0].host_name == "h1" and analysis.events[0].at == NOW
    if expected == HostStatus.Unassigned:  # monitoring starts afresh: capabilities and cluster checks
        assert analysis.host.unanswered_attempts == 0 and analysis.host.nics_down_since is None


def test_activated_host_is_checked_before_up():
    from vurti.domain.report import HostCapabilities

    snap = apply_analysis(snapshot(host(HostStatus.Maintenance)),
                          administer(snapshot(host(HostStatus.Maintenance)), AdminAction.ACTIVATE, NOW))
    analysis = run(snap, report(None, capabilities=HostCapabilities(), stats=HostStats(), fetched_at=NOW + 1),
                   now=NOW + 1)
    assert analysis.host.status == HostStatus.Up
