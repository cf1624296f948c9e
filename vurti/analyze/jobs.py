"""A VM's block jobs (VDSM's vmJobs), tracked from start to end.

oVirt: VmJobsMonitoring.processVmJobs and VdsEventListener.processOnVmStop. A report
without `vmJobs` says nothing (the stored jobs stay); with it (even empty) it is the
whole list: a job not stored yet has started (an event), a stored one reported with
other figures has progressed (stored, no event: progress is data), a stored one
absent has ended. oVirt's merge command then counts the job as done (the outcome of
the merge itself is judged from the volume chain, which a monitor does not see), so
the end is "finished". When the VM stops, its jobs are dropped: they ended with it.
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.domain.devices import VmJob
from vurti.domain.events import JOB_FINISHED, JOB_VM_STOPPED, VmJobEnded, VmJobStarted
from vurti.domain.model import VmState, evolve
from vurti.domain.status import VmStatus


def track_jobs(work: Work, vm: VmState, reported: tuple[VmJob, ...] | None) -> VmState:
    """The VM with the reported jobs, and their start and end events."""
    if reported is None:
        return vm
    now_ids = {job.job_id for job in reported}
    before = {job.job_id for job in vm.jobs}
    for job in reported:
        if job.job_id not in before:
            work.emit(VmJobStarted, vm_id=vm.vm_id, vm_name=vm.name, job_id=job.job_id, job_type=job.job_type,
                      block_job_type=job.block_job_type, image_id=job.image_id)
    for job in vm.jobs:
        if job.job_id not in now_ids:
            _ended(work, vm, job, JOB_FINISHED)
    return evolve(vm, jobs=reported)


def jobs_of_stopped(work: Work, vm: VmState) -> VmState:
    """A VM that is Down (or left every host) has no jobs left."""
    if not vm.jobs or (vm.status != VmStatus.Down and vm.host_id is not None):
        return vm
    for job in vm.jobs:
        _ended(work, vm, job, JOB_VM_STOPPED)
    return evolve(vm, jobs=())


def _ended(work: Work, vm: VmState, job: VmJob, outcome: str) -> None:
    work.emit(VmJobEnded, vm_id=vm.vm_id, vm_name=vm.name, job_id=job.job_id, job_type=job.job_type,
              block_job_type=job.block_job_type, outcome=outcome, cur=job.cur, end=job.end)
