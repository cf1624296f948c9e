"""Host rules: grace period, Connecting / NonResponsive, recovery (error 99), cluster checks, reboot."""

from __future__ import annotations

import pytest

from tests.analyze.builders import (
    CLUSTER,
    NOW,
    failed,
    host,
    host_after,
    names,
    report,
    run,
    snapshot,
    stats,
    up,
    vm,
    vm_after,
)
from vurti.analyze.host import RECOVERY_TOO_LONG
from vurti.domain.events import AgentError, HostNonOperational, HostNonResponsive, HostRebooted
from vurti.domain.model import Cluster
from vurti.domain.report import FetchErrorKind, HostCapabilities
from vurti.domain.status import HostStatus, VmStatus

# status before, unanswered attempts before, seconds since last success (None: never),
# is SPM, VMs running on the host, expected status, expected events
GRACE_CASES = [
    ("first failure", HostStatus.Up, 0, 3, False, 0, HostStatus.Connecting,
     ["AgentError", "HostStatusChanged", "HostConnecting"]),
    ("still connecting", HostStatus.Connecting, 1, 6, False, 0, HostStatus.Connecting, []),
    ("attempts exceeded, time not", HostStatus.Connecting, 2, 30, False, 0, HostStatus.Connecting, []),
    ("time exceeded, attempts not", HostStatus.Connecting, 1, 500, False, 0, HostStatus.Connecting, []),
    ("both exceeded", HostStatus.Connecting, 5, 61, False, 0, HostStatus.NonResponsive,
     ["HostStatusChanged", "HostNonResponsive", "HostFencingRequested"]),
    ("SPM adds 20 s", HostStatus.Connecting, 5, 61, True, 0, HostStatus.Connecting, []),
    ("4 VMs add 2 s", HostStatus.Connecting, 5, 61, False, 4, HostStatus.Connecting, []),
    ("4 VMs, 63 s", HostStatus.Connecting, 5, 63, False, 4, HostStatus.NonResponsive,
     ["HostStatusChanged", "HostNonResponsive", "HostFencingRequested", "VmStateChanged", "VmStateChanged",
      "VmStateChanged", "VmStateChanged"]),
    ("never answered: attempts only", HostStatus.Unassigned, 2, None, False, 0, HostStatus.NonResponsive,
     ["HostStatusChanged", "HostNonResponsive", "HostFencingRequested"]),
    ("preparing for maintenance keeps its status", HostStatus.PreparingForMaintenance, 0, 3, False, 0,
     HostStatus.PreparingForMaintenance, ["AgentError"]),
    ("already non responsive", HostStatus.NonResponsive, 9, 100, False, 0, HostStatus.NonResponsive, []),
    ("maintenance is not monitored", HostStatus.Maintenance, 9, 100, False, 0, HostStatus.Maintenance, []),
]


@pytest.mark.parametrize(
    "status, attempts, since, spm, vm_count, expected, expected_events",
    [c[1:] for c in GRACE_CASES],
    ids=[c[0] for c in GRACE_CASES],
)
def test_grace_period(status, attempts, since, spm, vm_count, expected, expected_events):
    last = None if since is None else NOW - since
    vms = tuple(vm(f"v{i}") for i in range(vm_count))
    snap = snapshot(host(status, unanswered_attempts=attempts, last_success_at=last), vms, is_spm=spm)
    analysis = run(snap, failed())
    after = host_after(analysis, snap)
    assert after.status == expected
    assert names(analysis) == expected_events
    if status != HostStatus.Maintenance:
        assert after.unanswered_attempts == attempts + 1


LAST_ANSWERED_CASES = [
    # seconds since the stored success, since the last answered poll the report knows, status, stored success after
    ("answered polls after the last write hold the grace", 61, 10, HostStatus.Connecting, NOW - 10),
    ("no answered poll known: the stored success counts", 61, None, HostStatus.NonResponsive, NOW - 61),
    ("an older answered poll changes nothing", 30, 61, HostStatus.Connecting, NOW - 30),
    ("the last answered poll too is past the grace", 120, 61, HostStatus.NonResponsive, NOW - 61),
    ("never written, answered polls known", None, 10, HostStatus.Connecting, NOW - 10),
]


@pytest.mark.parametrize("since, answered, expected, success", [c[1:] for c in LAST_ANSWERED_CASES],
                         ids=[c[0] for c in LAST_ANSWERED_CASES])
def test_grace_counts_from_the_last_answered_poll(since, answered, expected, success):
    last = None if since is None else NOW - since
    snap = snapshot(host(HostStatus.Connecting, unanswered_attempts=5, last_success_at=last))
    analysis = run(snap, failed(last_answered_at=None if answered is None else NOW - answered))
    after = host_after(analysis, snap)
    assert (after.status, after.last_success_at) == (expected, success)


@pytest.mark.parametrize("kind", [FetchErrorKind.UNREACHABLE, FetchErrorKind.PROTOCOL, FetchErrorKind.INVALID_DATA])
def test_other_failures_count_as_unanswered(kind):
    analysis = run(snapshot(), failed(kind))
    assert host_after(analysis, snapshot()).status == HostStatus.Connecting
    assert [e.kind for e in analysis.events if isinstance(e, AgentError)] == [str(kind)]


def test_agent_error_only_on_first_failure_of_a_run():
    snap = snapshot(host(HostStatus.Connecting, unanswered_attempts=1))
    assert "AgentError" not in names(run(snap, failed()))


def test_non_responsive_moves_only_running_vms_of_this_host_to_unknown():
    vms = (
        vm("up"),
        vm("paused", VmStatus.Paused),
        vm("unknown", VmStatus.Unknown),
        vm("down", VmStatus.Down, host_id=None),
        vm("elsewhere", host_id="h2"),
        vm("leaving", VmStatus.MigratingFrom, migrating_to_host="h2"),
    )
    snap = snapshot(host(HostStatus.Connecting, unanswered_attempts=5, last_success_at=NOW - 100), vms)
    analysis = run(snap, failed())
    statuses = {v: vm_after(analysis, snap, v).status for v in snap.vms}
    assert statuses == {
        "up": VmStatus.Unknown,
        "paused": VmStatus.Unknown,
        "unknown": VmStatus.Unknown,
        "down": VmStatus.Down,
        "elsewhere": VmStatus.Up,
        "leaving": VmStatus.Unknown,
    }
    assert vm_after(analysis, snap, "leaving").migrating_to_host is None
    [event] = [e for e in analysis.events if isinstance(e, HostNonResponsive)]
    assert event.vms_affected == 3


RECOVERY_CASES = [
    ("first 99", HostStatus.Up, None, NOW, HostStatus.Initializing, ["HostRecovering", "HostStatusChanged"]),
    ("still recovering", HostStatus.Initializing, NOW - 60, NOW - 60, HostStatus.Initializing, []),
    ("from non responsive", HostStatus.NonResponsive, None, NOW, HostStatus.Initializing,
     ["HostRecovering", "HostStatusChanged"]),
    ("too long", HostStatus.Initializing, NOW - 181, NOW - 181, HostStatus.NonOperational,
     ["HostNonOperational", "HostStatusChanged"]),
    ("too long, already recorded", HostStatus.NonOperational, NOW - 300, NOW - 300, HostStatus.NonOperational, []),
]


@pytest.mark.parametrize(
    "status, since, expected_since, expected, expected_events",
    [c[1:] for c in RECOVERY_CASES],
    ids=[c[0] for c in RECOVERY_CASES],
)
def test_agent_recovering(status, since, expected_since, expected, expected_events):
    reason = RECOVERY_TOO_LONG if status == HostStatus.NonOperational else None
    snap = snapshot(host(status, recovering_since=since, unanswered_attempts=3, status_reason=reason), (vm(),))
    analysis = run(snap, failed(FetchErrorKind.AGENT_ERROR, code=99))
    after = host_after(analysis, snap)
    assert (after.status, after.recovering_since, after.unanswered_attempts) == (expected, expected_since, 0)
    assert sorted(names(analysis)) == sorted(expected_events)
    assert analysis.vms == ()  # its VMs are left as they are


def test_general_agent_error_is_an_unanswered_poll():
    analysis = run(snapshot(), failed(FetchErrorKind.AGENT_ERROR, code=100))
    assert host_after(analysis, snapshot()).status == HostStatus.Connecting
    assert "AgentError" in names(analysis)


CAPS = HostCapabilities(cpu_model="Skylake", cpu_flags=("vmx", "aes"), networks=("ovirtmgmt",), vdsm_version="4.50")

ANSWER_CASES = [
    ("connecting, no capabilities", HostStatus.Connecting, None, HostStatus.Initializing),
    ("non responsive, no capabilities", HostStatus.NonResponsive, None, HostStatus.Initializing),
    ("connecting with capabilities", HostStatus.Connecting, CAPS, HostStatus.Up),
    ("non responsive with capabilities", HostStatus.NonResponsive, CAPS, HostStatus.Up),
    ("unassigned with capabilities", HostStatus.Unassigned, CAPS, HostStatus.Up),
    ("initializing with capabilities", HostStatus.Initializing, CAPS, HostStatus.Up),
    ("non operational re-checked", HostStatus.NonOperational, CAPS, HostStatus.Up),
    ("initializing, no capabilities", HostStatus.Initializing, None, HostStatus.Initializing),
    ("up stays up", HostStatus.Up, None, HostStatus.Up),
    ("error stays error", HostStatus.Error, CAPS, HostStatus.Error),
]


@pytest.mark.parametrize("status, caps, expected", [c[1:] for c in ANSWER_CASES], ids=[c[0] for c in ANSWER_CASES])
def test_host_answers(status, caps, expected):
    snap = snapshot(host(status, unanswered_attempts=4, recovering_since=NOW - 5, status_reason="x"))
    analysis = run(snap, report(capabilities=caps))
    after = host_after(analysis, snap)
    assert (after.status, after.unanswered_attempts, after.last_success_at, after.recovering_since) == (
        expected,
        0,
        NOW,
        None,
    )
    assert ("HostStatusChanged" in names(analysis)) == (status != expected)
    if caps is not None:
        assert (after.cpu_model, after.cpu_flags, after.networks, after.vdsm_version) == (
            "Skylake",
            ("vmx", "aes"),
            ("ovirtmgmt",),
            "4.50",
        )


CHECK_CASES = [
    ("all present", Cluster("c1", "c1", required_cpu_flags=("vmx",), required_networks=("ovirtmgmt",)), CAPS, None),
    ("missing flag", Cluster("c1", "c1", required_cpu_flags=("vmx", "avx512f")), CAPS, "missing CPU flags: avx512f"),
    ("missing network", Cluster("c1", "c1", required_networks=("ovirtmgmt", "storage")), CAPS,
     "missing networks: storage"),
    ("kvm disabled", CLUSTER, HostCapabilities(kvm_enabled=False), "KVM is not enabled"),
    ("several", Cluster("c1", "c1", required_cpu_flags=("sse9",), required_networks=("n1",)),
     HostCapabilities(kvm_enabled=False), "missing CPU flags: sse9; missing networks: n1; KVM is not enabled"),
]


@pytest.mark.parametrize("cluster, caps, reason", [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES])
def test_cluster_checks(cluster, caps, reason):
    snap = snapshot(host(HostStatus.Initializing), cluster=cluster)
    analysis = run(snap, report(capabilities=caps))
    after = host_after(analysis, snap)
    if reason is None:
        assert (after.status, after.status_reason) == (HostStatus.Up, None)
        assert "HostNonOperational" not in names(analysis)
    else:
        assert (after.status, after.status_reason) == (HostStatus.NonOperational, reason)
        assert [e.reason for e in analysis.events if isinstance(e, HostNonOperational)] == [reason]


def test_non_operational_with_same_reason_is_not_announced_again():
    cluster = Cluster("c1", "c1", required_networks=("storage",))
    snap = snapshot(host(HostStatus.NonOperational, status_reason="missing networks: storage"), cluster=cluster)
    assert names(run(snap, report(capabilities=CAPS))) == []


def test_unmonitored_host_ignores_the_report_but_keeps_its_clock():
    snap = snapshot(host(HostStatus.Maintenance), (vm(),))
    analysis = run(snap, report((), stats=stats(), stats_due=True, capabilities=CAPS))
    assert analysis.host == snap.state.__class__(**{**snap.state.__dict__, "last_report_at": NOW})
    assert (analysis.vms, analysis.events, analysis.host_stats) == ((), (), None)


def test_reboot_forgets_vm_timestamps_so_the_first_report_is_not_dropped():
    state = host(boot_time="boot-1")
    snap = snapshot(state, (vm(status=VmStatus.Up, status_time=90_000, status_time_host="h1"),))
    analysis = run(snap, report((up(status=VmStatus.Paused, status_time=100),), stats=stats("boot-2")))
    assert [e.new_boot_time for e in analysis.events if isinstance(e, HostRebooted)] == ["boot-2"]
    after = vm_after(analysis, snap)
    assert (after.status, after.status_time, after.status_time_host) == (VmStatus.Paused, 100, "h1")
    assert host_after(analysis, snap).boot_time == "boot-2"


def test_same_boot_time_keeps_timestamps():
    snap = snapshot(host(boot_time="boot-1"), (vm(status_time=90_000, status_time_host="h1"),))
    analysis = run(snap, report((up(status=VmStatus.Paused, status_time=100),), stats=stats("boot-1")))
    assert "HostRebooted" not in names(analysis)
    assert vm_after(analysis, snap).status == VmStatus.Up


def test_first_boot_time_is_learned_silently():
    snap = snapshot(host(boot_time=None))
    analysis = run(snap, report(stats=stats("boot-1")))
    assert host_after(analysis, snap).boot_time == "boot-1"
    assert names(analysis) == []


def test_vm_count_follows_a_full_vm_list():
    snap = snapshot(host(vm_count=0), (vm("a"),))
    analysis = run(snap, report((up("a"), up("b", name="ext"))))
    assert host_after(analysis, snap).vm_count == 2
