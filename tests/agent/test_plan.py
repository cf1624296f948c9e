"""plan_poll (oVirt's cadence) and vm_digest (skip unchanged VM lists)."""

from __future__ import annotations

import pytest

from vurti.agent import PollPlan, plan_poll, vm_digest
from vurti.domain.report import VmReport, VmStats
from vurti.domain.status import HostStatus, VmStatus


def test_up_host_statistics_cycle_gets_stats_and_full_vms() -> None:
    for cycle in (0, 5, 10):
        assert plan_poll(HostStatus.Up, cycle, 5) == PollPlan(host_stats=True, full_vms=True, stats_due=True)


def test_up_host_other_cycles_get_the_short_list_only() -> None:
    for cycle in (1, 2, 3, 4, 6):
        assert plan_poll(HostStatus.Up, cycle, 5) == PollPlan()


@pytest.mark.parametrize(
    "status", [HostStatus.Initializing, HostStatus.Connecting, HostStatus.NonOperational, HostStatus.Error]
)
def test_not_up_hosts_get_capabilities_and_stats_every_cycle_and_their_vms(status: HostStatus) -> None:
    assert plan_poll(status, 0, 5) == PollPlan(capabilities=True, host_stats=True, full_vms=True, stats_due=True)
    assert plan_poll(status, 3, 5) == PollPlan(capabilities=True, host_stats=True)


@pytest.mark.parametrize("status", [HostStatus.Unassigned, HostStatus.NonResponsive])
def test_unassigned_and_nonresponsive_hosts_get_no_vm_calls(status: HostStatus) -> None:
    assert plan_poll(status, 1, 5) == PollPlan(capabilities=True, host_stats=True, vms=False)
    assert plan_poll(status, 0, 5).stats_due


def test_preparing_for_maintenance_gets_host_statistics_every_cycle() -> None:
    assert plan_poll(HostStatus.PreparingForMaintenance, 0, 5) == plan_poll(HostStatus.Up, 0, 5)
    assert plan_poll(HostStatus.PreparingForMaintenance, 2, 5) == PollPlan(host_stats=True, stats_due=True)
    assert plan_poll(HostStatus.Up, 2, 5) == PollPlan()


def test_maintenance_gets_statistics_only_on_statistics_cycles() -> None:
    assert plan_poll(HostStatus.Maintenance, 0, 5) == PollPlan(host_stats=True, stats_due=True, vms=False)
    assert plan_poll(HostStatus.Maintenance, 1, 5).idle


@pytest.mark.parametrize(
    "status",
    [
        HostStatus.Down,
        HostStatus.Installing,
        HostStatus.InstallFailed,
        HostStatus.Reboot,
        HostStatus.PendingApproval,
        HostStatus.InstallingOS,
        HostStatus.Kdumping,
    ],
)
def test_hosts_owned_by_someone_else_are_not_polled(status: HostStatus) -> None:
    assert plan_poll(status, 0, 5).idle and plan_poll(status, 1, 5).idle


def test_every_status_has_a_plan_and_stats_every_one_means_always() -> None:
    for status in HostStatus:
        plan = plan_poll(status, 7, 1)
        assert plan.stats_due or plan.idle
        assert not plan.full_vms or plan.vms


def test_stats_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        plan_poll(HostStatus.Up, 0, 0)


def _vm(vm_id: str, status: str = "Up", status_time: int = 1, **kw: object) -> VmReport:
    return VmReport(vm_id=vm_id, status=VmStatus.Up, vdsm_status=status, status_time=status_time, **kw)  # type: ignore[arg-type]


def test_digest_ignores_status_time_order_and_statistics() -> None:
    one = (_vm("a", status_time=1), _vm("b", status_time=5))
    two = (_vm("b", status_time=9, stats=VmStats(cpu_user=50.0)), _vm("a", status_time=7))
    assert vm_digest(one) == vm_digest(two)
    assert len(vm_digest(one)) == 32


@pytest.mark.parametrize("changed", [_vm("b", status="Paused"), _vm("b", status="Down"), _vm("c")])
def test_digest_sees_status_and_membership_changes(changed: VmReport) -> None:
    assert vm_digest((_vm("a"), _vm("b"))) != vm_digest((_vm("a"), changed))


def test_digest_is_the_same_for_the_short_and_the_full_form() -> None:
    full = (_vm("a", status="Down", exit_code=1, exit_reason=2, exit_message="crash"), _vm("b", pause_code="EIO"))
    short = (_vm("a", status="Down"), _vm("b"))
    assert vm_digest(full) == vm_digest(short)


def test_digest_of_nothing_and_of_duplicates_is_stable() -> None:
    assert vm_digest(()) == vm_digest(())
    dup = (_vm("a", status="Down"), _vm("a"))
    assert vm_digest(dup) == vm_digest(tuple(reversed(dup)))


def test_monitor_ok_and_unknown_digest_the_same() -> None:
    assert vm_digest((_vm("a", monitor_response=0),)) == vm_digest((_vm("a"),))


def test_report_digest_only_for_a_complete_vm_list() -> None:
    from vurti.agent import report_digest
    from vurti.domain.report import HostReport

    vms = (_vm("a"), _vm("b", status="Paused"))
    assert report_digest(HostReport("h", 1.0, vms=vms)) == vm_digest(vms)
    assert report_digest(HostReport("h", 1.0, vms=vms, partial=True)) is None  # some VMs only
    assert report_digest(HostReport("h", 1.0)) is None  # no VM list asked
