"""Pushed VM events (partial reports): ordered per VM by the host's clock, never by fetch time."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, down, host, host_after, names, report, run, snapshot, up, vm, vm_after
from vurti.analyze import apply_analysis
from vurti.domain.status import HostStatus, VmStatus

T = 4_295_000_000  # the host's clock (statusTime / notify_time), ms


def pushed(*vms, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("vms_full", False)
    return report(tuple(vms), partial=True, **fields)


def on_h1(status: VmStatus = VmStatus.Up, at: int = T):  # type: ignore[no-untyped-def]
    return vm(status=status, status_time=at, status_time_host="h1")


def test_an_event_newer_than_the_stored_state_is_applied() -> None:
    snap = snapshot(vms=(on_h1(),))
    analysis = run(snap, pushed(up(status=VmStatus.Paused, status_time=T + 10, pause_code="EIO")))
    after = vm_after(analysis, snap)
    assert after is not None and after.status is VmStatus.Paused and after.status_time == T + 10


@pytest.mark.parametrize("at", [T, T - 1], ids=["the same event again", "an older event"])
def test_an_event_not_newer_than_the_stored_state_changes_nothing(at: int) -> None:
    snap = snapshot(vms=(on_h1(VmStatus.Paused),))
    assert run(snap, pushed(up(status=VmStatus.Up, status_time=at))).is_empty


def test_an_event_received_before_a_poll_that_was_applied_first_still_counts_by_the_host_clock() -> None:
    snap = snapshot(state=host(last_report_at=NOW + 5), vms=(on_h1(),))
    analysis = run(snap, pushed(up(status=VmStatus.Paused, status_time=T + 10), fetched_at=NOW))
    assert not analysis.stale
    assert vm_after(analysis, snap).status is VmStatus.Paused  # type: ignore[union-attr]


def test_an_event_leaves_the_host_and_its_poll_clock_alone() -> None:
    snap = snapshot(vms=(on_h1(),))
    analysis = run(snap, pushed(up(status=VmStatus.Paused, status_time=T + 10), fetched_at=NOW + 60))
    assert host_after(analysis, snap) == snap.state  # no last_report_at, no last_success_at, no vm_count


def test_a_down_event_records_its_exit_and_asks_for_the_destroy() -> None:
    snap = snapshot(vms=(on_h1(),))
    analysis = run(snap, pushed(down(code=1, reason=2, message="qemu died", status_time=T + 10)))
    after = vm_after(analysis, snap)
    assert after is not None and after.status is VmStatus.Down
    assert (after.exit_code, after.exit_reason, after.exit_message) == (1, 2, "qemu died")
    assert [c.vm_id for c in analysis.commands] == ["v1"]


def test_vms_an_event_does_not_name_are_not_gone() -> None:
    snap = snapshot(vms=(on_h1(), vm("v2", status_time=T, status_time_host="h1")))
    analysis = run(snap, pushed(up(status=VmStatus.Paused, status_time=T + 10)))
    assert vm_after(analysis, snap, "v2") == snap.vms["v2"]


@pytest.mark.parametrize("status", [HostStatus.NonResponsive, HostStatus.Maintenance])
def test_events_of_a_host_whose_vms_are_not_analysed_wait_for_its_polls(status: HostStatus) -> None:
    snap = snapshot(state=host(status), vms=(on_h1(VmStatus.Unknown),))
    assert run(snap, pushed(up(status=VmStatus.Up, status_time=T + 10))).is_empty


def test_a_full_list_fetched_before_a_vm_started_does_not_make_it_disappear() -> None:
    """The poll was sent, the VM started and its event overtook the poll's update: the list
    lacks the VM but is older than its data. The next poll, fetched after, can say it is gone."""
    snap = snapshot(vms=(vm(status=VmStatus.Down, host_id=None),))
    started = run(snap, pushed(up(status=VmStatus.PoweringUp, status_time=T + 10), fetched_at=NOW + 1))
    snap = apply_analysis(snap, started)
    assert snap.vms["v1"].status is VmStatus.PoweringUp

    older = run(snap, report((), fetched_at=NOW))
    assert vm_after(older, snap) == snap.vms["v1"]
    assert "VmDisappeared" not in names(older)

    later = run(apply_analysis(snap, older), report((), fetched_at=NOW + 2))
    assert vm_after(later, snap).status is VmStatus.Down  # type: ignore[union-attr]
    assert "VmDisappeared" in names(later)
