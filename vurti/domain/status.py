"""Host and VM statuses (oVirt's codes) and the one place VDSM's strings map onto them."""

from __future__ import annotations

from enum import IntEnum


class HostStatus(IntEnum):
    """oVirt's VDSStatus, with the engine's numeric codes."""

    Unassigned = 0
    Down = 1
    Maintenance = 2
    Up = 3
    NonResponsive = 4
    Error = 5
    Installing = 6
    InstallFailed = 7
    Reboot = 8
    PreparingForMaintenance = 9
    NonOperational = 10
    PendingApproval = 11
    Initializing = 12
    Connecting = 13
    InstallingOS = 14
    Kdumping = 15


class VmStatus(IntEnum):
    """oVirt's VMStatus, with the engine's numeric codes."""

    Unassigned = -1
    Down = 0
    Up = 1
    PoweringUp = 2
    Paused = 4
    MigratingFrom = 5
    MigratingTo = 6
    Unknown = 7
    NotResponding = 8
    WaitForLaunch = 9
    RebootInProgress = 10
    SavingState = 11
    RestoringState = 12
    Suspended = 13
    ImageIllegal = 14
    ImageLocked = 15
    PoweringDown = 16


# VDSM's VmStatus strings (vdsm-api-subset.yml) -> engine statuses.
VDSM_VM_STATUS: dict[str, VmStatus] = {
    "Up": VmStatus.Up,
    "Down": VmStatus.Down,
    "Migration Source": VmStatus.MigratingFrom,
    "Migration Destination": VmStatus.MigratingTo,
    "Powering up": VmStatus.PoweringUp,
    "Powering down": VmStatus.PoweringDown,
    "Paused": VmStatus.Paused,
    "WaitForLaunch": VmStatus.WaitForLaunch,
    "Saving State": VmStatus.SavingState,
    "Restoring state": VmStatus.RestoringState,
    "RebootInProgress": VmStatus.RebootInProgress,
}

# Engine status -> the string a VDSM host sends (used by the simulator).
VM_STATUS_TO_VDSM: dict[VmStatus, str] = {v: k for k, v in VDSM_VM_STATUS.items()}


class UnknownVmStatus(ValueError):
    """A VDSM status string that no engine status matches."""


def vm_status_from_vdsm(value: object) -> VmStatus:
    """Map a VDSM status string; raise UnknownVmStatus for anything else."""
    if isinstance(value, str):
        status = VDSM_VM_STATUS.get(value)
        if status is not None:
            return status
    raise UnknownVmStatus(f"unknown VM status {value!r}")


# Statuses in which a VM occupies its host (oVirt's VMStatus.isRunning()).
RUNNING_VM_STATUSES = frozenset(
    {
        VmStatus.Up,
        VmStatus.PoweringUp,
        VmStatus.Paused,
        VmStatus.MigratingFrom,
        VmStatus.MigratingTo,
        VmStatus.NotResponding,
        VmStatus.WaitForLaunch,
        VmStatus.RebootInProgress,
        VmStatus.SavingState,
        VmStatus.RestoringState,
        VmStatus.PoweringDown,
        VmStatus.Unknown,
    }
)

# Hosts whose VMs are monitored (oVirt polls VMs on these).
VM_MONITORED_HOST_STATUSES = frozenset(
    {
        HostStatus.Up,
        HostStatus.Error,
        HostStatus.NonOperational,
        HostStatus.PreparingForMaintenance,
        HostStatus.Connecting,
        HostStatus.Initializing,
    }
)

# Hosts not polled at all: an administrator or an installer owns them.
UNMONITORED_HOST_STATUSES = frozenset(
    {
        HostStatus.Down,
        HostStatus.Maintenance,
        HostStatus.Installing,
        HostStatus.InstallFailed,
        HostStatus.Reboot,
        HostStatus.PendingApproval,
        HostStatus.InstallingOS,
        HostStatus.Kdumping,
    }
)
