"""Block jobs (vmJobs) tracked from start to end (VmJobsMonitoring), table-driven."""

from __future__ import annotations

import pytest

from tests.analyze.builders import down, events_of, names, report, run, snapshot, up, vm, vm_after
from vurti.domain.devices import VmJob
from vurti.domain.events import JOB_FINISHED, JOB_VM_STOPPED, VmJobEnded, VmJobStarted
from vurti.domain.status import VmStatus

J1 = VmJob("j1", "block", "commit", "img-1", cur=0, end=100)
J1_HALF = VmJob("j1", "block", "commit", "img-1", cur=50, end=100)
J2 = VmJob("j2", "block", "pull", "img-2", cur=0, end=10)

CASES = [
    # name, stored jobs, reported vmJobs (None: key absent), jobs after, events
    ("a job appears: started", (), (J1,), (J1,), ["VmJobStarted"]),
    ("progress is data, not an event", (J1,), (J1_HALF,), (J1_HALF,), []),
    ("same figures: nothing", (J1_HALF,), (J1_HALF,), (J1_HALF,), []),
    ("gone from the list: ended", (J1_HALF,), (), (), ["VmJobEnded"]),
    ("one ends, another starts", (J1,), (J2,), (J2,), ["VmJobEnded", "VmJobStarted"]),
    ("no vmJobs key: jobs kept", (J1,), None, (J1,), []),
    ("no jobs ever: nothing", (), (), (), []),
]


@pytest.mark.parametrize("stored, reported, after, events", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_jobs(stored, reported, after, events):
    snap = snapshot(vms=(vm(jobs=stored),))
    analysis = run(snap, report((up(jobs=reported),)))
    assert vm_after(analysis, snap).jobs == after
    assert sorted(names(analysis)) == sorted(events)


def test_job_events_carry_the_job():
    snap = snapshot(vms=(vm(name="db", jobs=(J1_HALF,)),))
    analysis = run(snap, report((up(jobs=(J2,)),)))
    [started] = events_of(analysis, VmJobStarted)
    [ended] = events_of(analysis, VmJobEnded)
    assert (started.job_id, started.block_job_type, started.image_id) == ("j2", "pull", "img-2")
    assert (ended.job_id, ended.outcome, ended.cur, ended.end) == ("j1", JOB_FINISHED, 50, 100)
    assert ended.severity == "normal" and "db" in ended.describe()


STOPS = [
    ("reported down", lambda: report((down(code=1, reason=2),))),
    ("disappeared from the host", lambda: report(())),
]


@pytest.mark.parametrize("make", [c[1] for c in STOPS], ids=[c[0] for c in STOPS])
def test_jobs_end_with_their_vm(make):
    snap = snapshot(vms=(vm(jobs=(J1_HALF,)),))
    analysis = run(snap, make())
    assert vm_after(analysis, snap).status == VmStatus.Down
    assert vm_after(analysis, snap).jobs == ()
    [ended] = events_of(analysis, VmJobEnded)
    assert ended.outcome == JOB_VM_STOPPED and ended.severity == "warning"


def test_short_list_keeps_jobs():
    snap = snapshot(vms=(vm(jobs=(J1,)),))
    analysis = run(snap, report((up(),), vms_full=False))
    assert vm_after(analysis, snap).jobs == (J1,) and not events_of(analysis, VmJobEnded)


def test_jobs_of_a_vm_on_another_host_are_not_tracked_here():
    """A migration's destination reports the VM; its jobs belong to the host that runs it."""
    snap = snapshot(vms=(vm(host_id="h2", status=VmStatus.MigratingFrom, migrating_to_host="h1", jobs=(J1,)),))
    analysis = run(snap, report((up(status=VmStatus.MigratingTo, jobs=()),)))
    assert vm_after(analysis, snap).jobs == (J1,)
    assert not events_of(analysis, VmJobEnded)
