"""A lost host: one fencing request with what a fencer needs; VMs with a lease restartable elsewhere later."""

from __future__ import annotations

import pytest

from tests.analyze.builders import CLUSTER, NOW, events_of, failed, host, host_after, report, run, snapshot, up, vm
from vurti.analyze import apply_analysis
from vurti.domain.events import HostFencingRequested, VmLeaseRestartRequested
from vurti.domain.status import HostStatus, VmStatus

LOSING = host(HostStatus.Connecting, unanswered_attempts=5, last_success_at=NOW - 100)
INTERVAL = CLUSTER.refresh_interval  # 3 s: the lease delay is 10 of them, the retry 101


def test_fencing_requested_once_with_what_a_fencer_needs():
    vms = (vm("a", auto_start=True), vm("b", lease_sd_id="sd1"), vm("c"), vm("d", status=VmStatus.Down, host_id=None))
    snap = snapshot(LOSING, vms, is_spm=True)
    analysis = run(snap, failed())
    [request] = events_of(analysis, HostFencingRequested)
    assert (request.host_id, request.cluster_id, request.address, request.is_spm) == ("h1", "c1", "http://h1", True)
    assert (request.vm_ids, request.ha_vm_ids, request.lease_vm_ids) == (("a", "b", "c"), ("a",), ("b",))
    assert (request.unanswered_attempts, request.seconds_since_success) == (6, 100)
    after = host_after(analysis, snap)
    assert (after.status, after.non_responsive_since) == (HostStatus.NonResponsive, NOW)
    # The next unanswered polls of the same episode ask nothing more.
    again = apply_analysis(snap, analysis)
    for step in range(1, 4):
        later = run(again, failed(fetched_at=NOW + step * INTERVAL), now=NOW + step * INTERVAL)
        assert not events_of(later, HostFencingRequested)
        again = apply_analysis(again, later)


# seconds the host has been NonResponsive, seconds since the last lease request (None: none yet), asked
LEASE_CASES = [
    ("before the delay", 9 * INTERVAL, None, False),
    ("delay passed", 10 * INTERVAL, None, True),
    ("asked already, retry not due", 50 * INTERVAL, 30 * INTERVAL, False),
    ("retry due", 200 * INTERVAL, 101 * INTERVAL, True),
]


@pytest.mark.parametrize("lost_for, asked_ago, asked", [c[1:] for c in LEASE_CASES], ids=[c[0] for c in LEASE_CASES])
def test_vms_with_a_lease_are_restartable_elsewhere_after_the_delay(lost_for, asked_ago, asked):
    state = host(HostStatus.NonResponsive, unanswered_attempts=40, last_success_at=NOW - lost_for - 60,
                 non_responsive_since=NOW - lost_for,
                 lease_restart_at=None if asked_ago is None else NOW - asked_ago)
    vms = (vm("leased", status=VmStatus.Unknown, lease_sd_id="sd1"), vm("plain", status=VmStatus.Unknown))
    snap = snapshot(state, vms)
    analysis = run(snap, failed())
    requests = events_of(analysis, VmLeaseRestartRequested)
    assert [(e.vm_id, e.lease_sd_id) for e in requests] == ([("leased", "sd1")] if asked else [])
    after = host_after(analysis, snap)
    assert after.lease_restart_at == (NOW if asked else state.lease_restart_at)


def test_a_host_that_answers_again_forgets_its_lease_clock():
    state = host(HostStatus.NonResponsive, unanswered_attempts=40, non_responsive_since=NOW - 100,
                 lease_restart_at=NOW - 50)
    snap = snapshot(state, (vm(status=VmStatus.Unknown, lease_sd_id="sd1"),))
    after = host_after(run(snap, report((up(),))), snap)
    assert (after.status, after.non_responsive_since, after.lease_restart_at) == (HostStatus.Initializing, None, None)


def test_non_responsive_before_the_clock_was_kept_starts_it_now():
    state = host(HostStatus.NonResponsive, unanswered_attempts=40, last_success_at=NOW - 500)
    snap = snapshot(state, (vm(status=VmStatus.Unknown, lease_sd_id="sd1"),))
    analysis = run(snap, failed())
    assert host_after(analysis, snap).non_responsive_since == NOW
    assert not events_of(analysis, VmLeaseRestartRequested)
