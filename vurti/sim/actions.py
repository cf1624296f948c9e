"""What can happen to a VM, as VDSM would show it: the transitions life and the control API share.

Multi-step transitions (launch, shutdown, migration...) schedule their next step a
few ticks ahead; each step checks the record's `gen` so a later transition (a crash,
a destroy) cancels the steps of an earlier one.
"""

from __future__ import annotations

import time
from typing import Any

from vurti.domain.exits import ExitCode, ExitReason
from vurti.domain.status import VmStatus
from vurti.sim import devices as sim_devices
from vurti.sim.fleet import Fleet, Host, Migration, Record, VmSpec

# Durations in ticks (simulated seconds).
LAUNCH, POWER_UP, POWER_DOWN, REBOOT, SAVE, RESTORE, POSTCOPY, NOT_RESPONDING = 1, 2, 2, 2, 2, 2, 2, 5
MIGRATION_STEPS = 3

RUNNING_STABLE = (VmStatus.Up,)
MOVABLE = (VmStatus.Up, VmStatus.Paused, VmStatus.PoweringUp, VmStatus.RebootInProgress)


class ActionError(ValueError):
    """The VM is not in a state where the action makes sense."""


def _later(fleet: Fleet, delay: int, rec: Record, fn: Any, *args: Any) -> None:
    fleet.schedule(delay, _guarded, rec, rec.gen, fn, args)


def _guarded(rec: Record, gen: int, fn: Any, args: tuple[Any, ...]) -> None:
    if rec.gen == gen:
        fn(*args)


def running_record(spec: VmSpec) -> Record | None:
    for rec in spec.records:
        if rec.status is not VmStatus.Down and rec.status is not VmStatus.MigratingTo:
            return rec
    return None


# -- start and stop -------------------------------------------------------------


def start(fleet: Fleet, spec: VmSpec, host: Host, fail: str | None = None) -> Record:
    """Launch the VM on `host`; with `fail`, the launch fails as VDSM's does when libvirt cannot
    start the domain: WaitForLaunch, then Down with an error (LibvirtStartFailed) and `fail` as message."""
    if running_record(spec) is not None:
        raise ActionError(f"VM {spec.vm_id} is already running")
    if spec.vm_id in host.records:
        raise ActionError(f"VM {spec.vm_id} still has a record on {host.name}: destroy it first")
    home = fleet.hosts[spec.home]
    if spec in home.parked:
        home.parked.remove(spec)
    spec.home = host.index
    restoring = spec.saved
    rec = Record(spec, host, VmStatus.RestoringState if restoring else VmStatus.WaitForLaunch, time.time())
    fleet.attach(rec)
    fleet.set_status(rec, rec.status, "restore" if restoring else "start")
    if restoring:
        spec.saved = False
        _later(fleet, RESTORE, rec, fleet.set_status, rec, VmStatus.Up, "up")
    elif fail is not None:
        _later(fleet, LAUNCH, rec, down, fleet, rec, ExitCode.Error, ExitReason.LibvirtStartFailed, fail)
    else:
        _later(fleet, LAUNCH, rec, _powering_up, fleet, rec)
    return rec


def _powering_up(fleet: Fleet, rec: Record) -> None:
    fleet.set_status(rec, VmStatus.PoweringUp, "powering_up")
    _later(fleet, POWER_UP, rec, fleet.set_status, rec, VmStatus.Up, "up")


def stop(fleet: Fleet, rec: Record, by: str = "admin") -> None:
    if rec.status not in MOVABLE or rec.migration is not None:
        raise ActionError(f"cannot shut down a VM that is {rec.status.name}")
    reason = ExitReason.UserShutdown if by == "user" else ExitReason.AdminShutdown
    message = "User shut down from within the guest" if by == "user" else "Admin shut down from the engine"
    rec.pause_code = None
    fleet.set_status(rec, VmStatus.PoweringDown, "powering_down", by)
    _later(fleet, POWER_DOWN, rec, down, fleet, rec, ExitCode.Normal, reason, message)


def down(fleet: Fleet, rec: Record, code: int, reason: int, message: str) -> None:
    rec.exit_code, rec.exit_reason, rec.exit_message = int(code), int(reason), message
    rec.pause_code = None
    rec.monitor_ok = True
    rec.watchdog = None
    rec.migration = None
    rec.jobs.clear()  # libvirt's block jobs end with the domain
    fleet.set_status(rec, VmStatus.Down, "down", f"{int(code)}/{int(reason)}")


def crash(fleet: Fleet, rec: Record, reason: int = ExitReason.LostQemuConnection, message: str = "") -> None:
    if rec.status is VmStatus.Down:
        raise ActionError("the VM is already down")
    _abort_migration(fleet, rec)
    down(fleet, rec, ExitCode.Error, reason, message or "Lost connection with qemu process")


# -- pause, reboot, hibernate, monitor -------------------------------------------


def pause(fleet: Fleet, rec: Record, code: str | None = None) -> None:
    if rec.status is not VmStatus.Up or rec.migration is not None:
        raise ActionError(f"cannot pause a VM that is {rec.status.name}")
    rec.pause_code = code
    fleet.set_status(rec, VmStatus.Paused, "pause", code or "")


def resume(fleet: Fleet, rec: Record) -> None:
    if rec.status is not VmStatus.Paused or rec.migration is not None:
        raise ActionError(f"cannot resume a VM that is {rec.status.name}")
    rec.pause_code = None
    fleet.set_status(rec, VmStatus.Up, "resume")


def reboot(fleet: Fleet, rec: Record) -> None:
    if rec.status is not VmStatus.Up or rec.migration is not None:
        raise ActionError(f"cannot reboot a VM that is {rec.status.name}")
    fleet.set_status(rec, VmStatus.RebootInProgress, "reboot")
    _later(fleet, REBOOT, rec, fleet.set_status, rec, VmStatus.Up, "up")


def hibernate(fleet: Fleet, rec: Record) -> None:
    if rec.status is not VmStatus.Up or rec.migration is not None:
        raise ActionError(f"cannot hibernate a VM that is {rec.status.name}")
    rec.spec.saved = True
    fleet.set_status(rec, VmStatus.SavingState, "hibernate")
    _later(fleet, SAVE, rec, down, fleet, rec, ExitCode.Normal, ExitReason.SaveStateSucceeded, "SaveState succeeded")


def not_responding(fleet: Fleet, rec: Record, ticks: int = NOT_RESPONDING) -> None:
    """qemu's monitor stops answering (monitorResponse "-1") for `ticks`; 0 means until told."""
    if rec.status is VmStatus.Down:
        raise ActionError("the VM is down")
    rec.monitor_ok = False
    rec.host.touch()
    fleet.record_event(rec.host.name, rec.spec.vm_id, "not_responding", str(ticks))
    if ticks > 0:
        fleet.schedule(ticks, responding, fleet, rec)


def responding(fleet: Fleet, rec: Record) -> None:
    if not rec.monitor_ok:
        rec.monitor_ok = True
        rec.host.touch()
        fleet.record_event(rec.host.name, rec.spec.vm_id, "responding", "")


def watchdog(fleet: Fleet, rec: Record, action: str = "reset") -> None:
    if rec.status is VmStatus.Down:
        raise ActionError("the VM is down")
    rec.watchdog = {"action": action, "time": round(time.time(), 3)}
    rec.host.touch()
    fleet.record_event(rec.host.name, rec.spec.vm_id, "watchdog", action)


# -- devices and block jobs ------------------------------------------------------


def hotplug(fleet: Fleet, rec: Record, kind: str = "disk") -> dict[str, Any]:
    """Hot-plug a disk or NIC: the VM's device list and its hash change."""
    if rec.status is not VmStatus.Up:
        raise ActionError(f"cannot hot-plug into a VM that is {rec.status.name}")
    try:
        device = sim_devices.hotplug(rec.spec, kind)
    except ValueError as exc:
        raise ActionError(str(exc)) from exc
    rec.host.touch()
    fleet.record_event(rec.host.name, rec.spec.vm_id, "hotplug", device["deviceId"])
    return device


def unplug(fleet: Fleet, rec: Record, device_id: str) -> None:
    if rec.status is not VmStatus.Up:
        raise ActionError(f"cannot unplug from a VM that is {rec.status.name}")
    try:
        sim_devices.unplug(rec.spec, device_id)
    except ValueError as exc:
        raise ActionError(str(exc)) from exc
    rec.host.touch()
    fleet.record_event(rec.host.name, rec.spec.vm_id, "unplug", device_id)


def block_job(fleet: Fleet, rec: Record, kind: str = "commit", steps: int = 3, job_id: str | None = None) -> str:
    """Start a block job that progresses one step a tick and ends (leaves vmJobs) after `steps`."""
    if rec.status is not VmStatus.Up:
        raise ActionError(f"cannot start a block job on a VM that is {rec.status.name}")
    if kind not in ("commit", "copy", "pull"):
        raise ActionError(f"unknown block job type {kind!r}")
    job_id = job_id or sim_devices.device_id(rec.spec, f"job{fleet.history_seq}")
    end = 1024 * 1024 * 1024
    rec.jobs[job_id] = {"id": job_id, "jobType": "block", "blockJobType": kind, "cur": "0", "end": str(end),
                        "bandwidth": 0, "imgUUID": sim_devices.device_id(rec.spec, "disk0")}
    rec.host.touch()
    fleet.record_event(rec.host.name, rec.spec.vm_id, "block_job", f"{job_id} {kind}")
    # Not cancelled by the VM's transitions (no gen guard): a job ends, or goes with the domain.
    fleet.schedule(1, _job_step, fleet, rec, job_id, 1, max(1, steps))
    return job_id


def _job_step(fleet: Fleet, rec: Record, job_id: str, k: int, n: int) -> None:
    job = rec.jobs.get(job_id)
    if job is None:
        return
    rec.host.touch()
    if k > n:
        del rec.jobs[job_id]
        fleet.record_event(rec.host.name, rec.spec.vm_id, "block_job_done", job_id)
        return
    job["cur"] = str(int(job["end"]) * k // n)
    fleet.schedule(1, _job_step, fleet, rec, job_id, k + 1, n)


# -- migration -------------------------------------------------------------------


def migrate(fleet: Fleet, rec: Record, dest: Host, mode: str = "precopy", steps: int = MIGRATION_STEPS,
            postcopy_ticks: int = POSTCOPY) -> Migration:
    """Start a migration; a post-copy one shows Paused POSTCOPY on the source for `postcopy_ticks`
    (long enough, in a test, for a poll to see that phase)."""
    if mode not in ("precopy", "postcopy", "fail"):
        raise ActionError(f"unknown migration mode {mode!r}")
    if rec.status is not VmStatus.Up or rec.migration is not None:
        raise ActionError(f"cannot migrate a VM that is {rec.status.name}")
    if dest is rec.host or dest.cluster != rec.host.cluster:
        raise ActionError(f"{dest.name} is not another host of cluster {rec.host.cluster}")
    if rec.spec.vm_id in dest.records:
        raise ActionError(f"{dest.name} already has a record of VM {rec.spec.vm_id}")
    incoming = Record(rec.spec, dest, VmStatus.MigratingTo, rec.started)
    mig = Migration(rec, incoming, mode)
    rec.migration = incoming.migration = mig
    fleet.attach(incoming)
    fleet.set_status(rec, VmStatus.MigratingFrom, "migrate_out", f"{dest.name} {mode}")
    fleet.set_status(incoming, VmStatus.MigratingTo, "migrate_in", rec.host.name)
    _later(fleet, 1, rec, _progress, fleet, mig, 1, max(1, steps), max(1, postcopy_ticks))
    return mig


def _progress(fleet: Fleet, mig: Migration, k: int, n: int, postcopy_ticks: int = POSTCOPY) -> None:
    src = mig.source
    mig.progress = min(99, 100 * k // (n + 1))
    src.host.touch()
    if k < n:
        _later(fleet, 1, src, _progress, fleet, mig, k + 1, n, postcopy_ticks)
    elif mig.mode == "fail":
        _later(fleet, 1, src, _fail, fleet, mig)
    elif mig.mode == "postcopy":
        mig.phase = "postcopy"
        src.pause_code = "POSTCOPY"
        fleet.set_status(src, VmStatus.Paused, "postcopy", "POSTCOPY")
        _later(fleet, postcopy_ticks, src, _succeed, fleet, mig)
    else:
        _later(fleet, 1, src, _succeed, fleet, mig)


def _succeed(fleet: Fleet, mig: Migration) -> None:
    src, dst = mig.source, mig.destination
    dst.migration = None
    src.spec.home = dst.host.index
    fleet.set_status(dst, VmStatus.Up, "migrated_in", src.host.name)
    down(fleet, src, ExitCode.Normal, ExitReason.MigrationSucceeded, "Migration succeeded")


def _fail(fleet: Fleet, mig: Migration) -> None:
    src, dst = mig.source, mig.destination
    src.migration = dst.migration = None
    src.pause_code = None
    fleet.detach(dst)
    fleet.record_event(dst.host.name, dst.spec.vm_id, "migration_dropped", src.host.name)
    fleet.set_status(src, VmStatus.Up, "migration_failed", dst.host.name)


def _abort_migration(fleet: Fleet, rec: Record) -> None:
    """A crash or destroy of either side ends the migration: the other side goes on alone."""
    mig = rec.migration
    if mig is None:
        return
    mig.source.migration = mig.destination.migration = None
    if rec is mig.source:
        fleet.detach(mig.destination)
        fleet.record_event(mig.destination.host.name, rec.spec.vm_id, "migration_dropped", rec.host.name)
    else:
        src = mig.source
        src.pause_code = None
        fleet.set_status(src, VmStatus.Up, "migration_failed", rec.host.name)


# -- destroy and ground truth ----------------------------------------------------


def destroy(fleet: Fleet, host: Host, vm_id: str) -> bool:
    """VM.destroy: True when the host had a record; a running VM is stopped first."""
    rec = host.records.get(vm_id)
    fleet.destroys.append(
        {"tick": fleet.tick, "host": host.name, "vm_id": vm_id, "found": rec is not None,
         "status": rec.status.name if rec else None, "at": time.time()}
    )
    if rec is None:
        return False
    if rec.status is not VmStatus.Down:
        _abort_migration(fleet, rec)
        down(fleet, rec, ExitCode.Normal, ExitReason.AdminShutdown, "Admin shut down from the engine")
    fleet.detach(rec)
    fleet.record_event(host.name, vm_id, "destroy", "")
    return True


def truth(spec: VmSpec) -> dict[str, Any]:
    """Where the VM runs and the status the engine should show for it."""
    rec = running_record(spec)
    if rec is None:
        return {"host": None, "status": VmStatus.Down.name}
    if rec.migration is not None:
        return {"host": rec.host.name, "status": VmStatus.MigratingFrom.name,
                "destination": rec.migration.destination.host.name}
    status = rec.status
    if not rec.monitor_ok and status is not VmStatus.Down:
        status = VmStatus.NotResponding
    return {"host": rec.host.name, "status": status.name}
