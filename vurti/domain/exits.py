"""VM exit codes and reasons: VDSM sends ints on the wire, its schema names strings."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class ExitCode(IntEnum):
    Normal = 0
    Error = 1


class ExitReason(IntEnum):
    """vdsm/virt/vmexitreason.py (the engine's VmExitReason has the same values)."""

    Success = 0
    GenericError = 1
    LostQemuConnection = 2
    LibvirtStartFailed = 3
    MigrationSucceeded = 4
    SaveStateSucceeded = 5
    AdminShutdown = 6
    UserShutdown = 7
    MigrationFailed = 8
    LibvirtDomainMissing = 9
    DestroyedOnStartup = 10
    HostShutdown = 11
    PostcopyMigrationFailed = 12
    DestroyedOnReboot = 13
    DestroyedOnPauseTimeout = 14


# The schema's enum strings for the same values.
EXIT_CODE_NAMES = {"NORMAL": ExitCode.Normal, "ERROR": ExitCode.Error}
EXIT_REASON_NAMES = {
    "success": ExitReason.Success,
    "generic error": ExitReason.GenericError,
    "lost qemu connection": ExitReason.LostQemuConnection,
    "libvirt start failed": ExitReason.LibvirtStartFailed,
    "migration succeeded": ExitReason.MigrationSucceeded,
    "save state succeeded": ExitReason.SaveStateSucceeded,
    "admin shutdown": ExitReason.AdminShutdown,
    "user shutdown": ExitReason.UserShutdown,
    "migration failed": ExitReason.MigrationFailed,
    "libvirt domain missing": ExitReason.LibvirtDomainMissing,
    "destroyed on startup": ExitReason.DestroyedOnStartup,
}


def _from_wire(value: object, names: Mapping[str, int]) -> int | None:
    """An int (the wire), a string of one, or a schema name; None when absent or unrecognised."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().lstrip("-").isdigit():
            return int(value)
        named = names.get(value.strip().lower())
        return int(named) if named is not None else None
    return None


def exit_code_from_wire(value: object) -> int | None:
    return _from_wire(value, {k.lower(): v for k, v in EXIT_CODE_NAMES.items()})


def exit_reason_from_wire(value: object) -> int | None:
    return _from_wire(value, EXIT_REASON_NAMES)


def exit_reason_name(value: int | None) -> str:
    try:
        return ExitReason(value).name if value is not None else "unknown"
    except ValueError:
        return f"reason {value}"
