"""A VM's devices and block jobs, as VDSM reports them and as they are stored.

oVirt keeps devices in vm_device rows (VmDevicesMonitoring) and block jobs in
vm_jobs (VmJobsMonitoring); vurti stores devices in vm_devices and a VM's jobs
with its dynamic state.
"""

from __future__ import annotations

from dataclasses import dataclass

# A balloon is never hot-plugged: a managed one missing from a list is not an unplug (oVirt).
NOT_PLUGGABLE = frozenset({"balloon"})


@dataclass(frozen=True)
class VmDevice:
    """One device of a VM. `managed`: VDSM named it with the engine's deviceId; an unmanaged
    device gets an id derived from what identifies it (type, device, alias, address)."""

    device_id: str
    type: str  # general type: disk, interface, controller, balloon, ...
    device: str  # specific device: cdrom, bridge, virtio-serial, ...
    address: str = ""  # VDSM's address, as canonical JSON; "" while unplugged
    alias: str = ""
    managed: bool = False
    plugged: bool = True
    readonly: bool = False

    @property
    def label(self) -> str:
        """The device as people read it."""
        return f"{self.type}/{self.device} {self.alias or self.device_id}"


@dataclass(frozen=True)
class VmJob:
    """A block job of a VM (VDSM's vmJobs): progress is `cur` of `end`."""

    job_id: str
    job_type: str = "block"  # block / unknown
    block_job_type: str = ""  # commit / copy / pull / unknown
    image_id: str = ""
    cur: int = 0
    end: int = 0
    bandwidth: int = 0

    @property
    def percent(self) -> int:
        return 100 if self.end <= 0 else min(100, self.cur * 100 // self.end)
