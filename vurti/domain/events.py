"""Domain events: immutable facts the analyzers found, delivered to subscribers.

Primitive fields only, so an event round-trips through the outbox table and the
live feed as JSON (`to_record` / `from_record`). `describe()` is the one readable
audit line for each event type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from vurti.domain.exits import exit_reason_name


@dataclass(frozen=True)
class Event:
    host_id: str
    at: float  # engine time the change was observed
    host_name: str = field(default="", kw_only=True)  # for readable audit lines; the id stays the reference

    severity: ClassVar[str] = "normal"  # normal / warning / error / alert

    @property
    def host(self) -> str:
        return self.host_name or self.host_id

    def describe(self) -> str:
        return type(self).__name__

    def to_record(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        return {"type": type(self).__name__, "data": data}


@dataclass(frozen=True)
class HostStatusChanged(Event):
    old: str = ""
    new: str = ""
    reason: str | None = None

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"Host {self.host} status changed from {self.old} to {self.new}{why}"


@dataclass(frozen=True)
class HostNonResponsive(Event):
    severity: ClassVar[str] = "error"
    unanswered_attempts: int = 0
    seconds_since_success: float | None = None
    vms_affected: int = 0

    def describe(self) -> str:
        return (
            f"Host {self.host} is non responsive after {self.unanswered_attempts} unanswered polls; "
            f"{self.vms_affected} VMs set to Unknown"
        )


@dataclass(frozen=True)
class HostConnecting(Event):
    severity: ClassVar[str] = "warning"
    error: str = ""

    def describe(self) -> str:
        return f"Host {self.host} is not responding, it will stay in Connecting for a grace period ({self.error})"


@dataclass(frozen=True)
class HostNonOperational(Event):
    severity: ClassVar[str] = "error"
    reason: str = ""

    def describe(self) -> str:
        return f"Host {self.host} is non operational: {self.reason}"


@dataclass(frozen=True)
class HostRecovering(Event):
    severity: ClassVar[str] = "warning"
    message: str = ""

    def describe(self) -> str:
        return f"Host {self.host} agent is recovering: {self.message}"


@dataclass(frozen=True)
class HostRebooted(Event):
    old_boot_time: str | None = None
    new_boot_time: str | None = None

    def describe(self) -> str:
        return f"Host {self.host} agent restarted (boot time {self.old_boot_time} -> {self.new_boot_time})"


@dataclass(frozen=True)
class AgentError(Event):
    severity: ClassVar[str] = "warning"
    kind: str = ""
    message: str = ""
    verb: str = ""
    code: int | None = None

    def describe(self) -> str:
        code = f" code {self.code}" if self.code is not None else ""
        return f"Host {self.host} agent {self.verb} failed ({self.kind}{code}): {self.message}"


@dataclass(frozen=True)
class InvalidVmData(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    problem: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_id} on host {self.host}: invalid report ({self.problem})"


@dataclass(frozen=True)
class VmAnalysisFailed(Event):
    """A rule raised on a VM's report: a bug in vurti (its traceback is in the worker's log),
    not bad data from the agent (that is InvalidVmData)."""

    severity: ClassVar[str] = "error"
    vm_id: str = ""
    error: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_id} on host {self.host}: analysis failed, state kept (a bug, see the log): {self.error}"


@dataclass(frozen=True)
class VmStateChanged(Event):
    vm_id: str = ""
    vm_name: str = ""
    old: str = ""
    new: str = ""
    reason: str | None = None

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"VM {self.vm_name or self.vm_id} on host {self.host} changed from {self.old} to {self.new}{why}"


@dataclass(frozen=True)
class VmDown(Event):
    vm_id: str = ""
    vm_name: str = ""
    exit_code: int | None = None
    exit_reason: int | None = None
    exit_message: str = ""

    @property
    def is_error(self) -> bool:
        return self.exit_code not in (None, 0)

    @property
    def severity(self) -> str:  # type: ignore[override]  # an error exit is an error-severity event
        return "error" if self.is_error else "normal"

    def describe(self) -> str:
        kind = "with error" if self.is_error else "normally"
        return (
            f"VM {self.vm_name or self.vm_id} is down {kind} on host {self.host}: "
            f"{exit_reason_name(self.exit_reason)}, exit code {self.exit_code}"
            + (f", {self.exit_message}" if self.exit_message else "")
        )


@dataclass(frozen=True)
class VmDisappeared(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""
    last_status: str = ""

    def describe(self) -> str:
        return (
            f"VM {self.vm_name or self.vm_id} was {self.last_status} but is not on host {self.host}; "
            "assuming it went down unexpectedly"
        )


@dataclass(frozen=True)
class VmPaused(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""
    pause_code: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} on host {self.host} paused ({self.pause_code or 'no reason'})"


@dataclass(frozen=True)
class VmNotResponding(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} on host {self.host} is not responding (qemu monitor)"


@dataclass(frozen=True)
class VmMigrationStarted(Event):
    vm_id: str = ""
    vm_name: str = ""
    destination_host_id: str | None = None
    destination_host_name: str = ""

    def describe(self) -> str:
        to = self.destination_host_name or self.destination_host_id
        return f"VM {self.vm_name or self.vm_id} migrating from host {self.host} to " + (
            f"host {to}" if to else "a host not known yet")


@dataclass(frozen=True)
class VmMigrationEnded(Event):
    vm_id: str = ""
    vm_name: str = ""
    source_host_id: str = ""
    destination_host_id: str = ""
    source_host_name: str = ""
    destination_host_name: str = ""

    def describe(self) -> str:
        return (
            f"VM {self.vm_name or self.vm_id} migration from host {self.source_host_name or self.source_host_id} "
            f"to host {self.destination_host_name or self.destination_host_id} completed"
        )


@dataclass(frozen=True)
class VmMigrationFailed(Event):
    severity: ClassVar[str] = "error"
    vm_id: str = ""
    vm_name: str = ""
    destination_host_id: str | None = None
    destination_host_name: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} migration from host {self.host} failed; it keeps running there"


@dataclass(frozen=True)
class VmMigrationAborted(Event):
    """The source crashed or lost the VM mid-migration (oVirt's abortVmMigration)."""

    severity: ClassVar[str] = "error"
    vm_id: str = ""
    vm_name: str = ""
    destination_host_id: str | None = None
    destination_host_name: str = ""
    reason: str = ""

    def describe(self) -> str:
        to = self.destination_host_name or self.destination_host_id
        where = f" to host {to}" if to else ""
        return f"VM {self.vm_name or self.vm_id} migration from host {self.host}{where} aborted: {self.reason}"


@dataclass(frozen=True)
class ExternalVmDiscovered(Event):
    vm_id: str = ""
    vm_name: str = ""
    status: str = ""

    def describe(self) -> str:
        return f"External VM {self.vm_name or self.vm_id} ({self.status}) discovered on host {self.host}"


@dataclass(frozen=True)
class WatchdogEvent(Event):
    severity: ClassVar[str] = "alert"
    vm_id: str = ""
    vm_name: str = ""
    action: str = ""
    event_time: float = 0.0

    def describe(self) -> str:
        action = f"action {self.action}" if self.action else "no action reported"
        return f"Watchdog of VM {self.vm_name or self.vm_id} on host {self.host} fired: {action}"


@dataclass(frozen=True)
class GuestMemoryLow(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""
    free_kib: int = 0
    total_kib: int = 0

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} guest memory low: {self.free_kib} of {self.total_kib} KiB free"


@dataclass(frozen=True)
class BalloonNotWorking(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""
    target_kib: int = 0
    current_kib: int = 0

    def describe(self) -> str:
        return (
            f"VM {self.vm_name or self.vm_id} balloon driver not responding: "
            f"target {self.target_kib} KiB, current {self.current_kib} KiB"
        )


@dataclass(frozen=True)
class VmNicStateChanged(Event):
    vm_id: str = ""
    vm_name: str = ""
    nic: str = ""
    old: str = ""
    new: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} interface {self.nic} changed from {self.old} to {self.new}"


@dataclass(frozen=True)
class VmDestroyed(Event):
    vm_id: str = ""
    reason: str = ""
    vm_name: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id} record destroyed on host {self.host} ({self.reason})"


@dataclass(frozen=True)
class VmDestroyFailed(Event):
    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    error: str = ""
    attempt: int = 0
    vm_name: str = ""

    def describe(self) -> str:
        vm = self.vm_name or self.vm_id
        return f"Destroying VM {vm} on host {self.host} failed (attempt {self.attempt}): {self.error}"


@dataclass(frozen=True)
class HostMaintenanceReached(Event):
    """PreparingForMaintenance became Maintenance: no VM is left on the host (oVirt's VDS_MAINTENANCE)."""

    def describe(self) -> str:
        return f"Host {self.host} was switched to Maintenance mode: no VM is left on it"


@dataclass(frozen=True)
class HostThresholdExceeded(Event):
    """A usage figure over its threshold (oVirt's VDS_HIGH_CPU_USE, VDS_LOW_SWAP, ...), flood-regulated.

    `alert`: cpu, memory, low_memory, swap, low_swap, network, disk_low, disk_critical.
    `subject`: the NIC or the disks' paths it is about, else "".
    """

    alert: str = ""
    value: float = 0.0
    threshold: float = 0.0
    subject: str = ""

    @property
    def severity(self) -> str:  # type: ignore[override]  # critically low disk space is an error
        return "error" if self.alert == "disk_critical" else "warning"

    def describe(self) -> str:
        what = {
            "cpu": f"CPU usage {self.value:g}% is over {self.threshold:g}%",
            "memory": f"memory usage {self.value:g}% is over {self.threshold:g}%",
            "low_memory": f"free memory {self.value:g} MB is under {self.threshold:g} MB",
            "swap": f"swap usage {self.value:g}% is over {self.threshold:g}%",
            "low_swap": f"free swap {self.value:g} MB is under {self.threshold:g} MB",
            "network": f"interface {self.subject} uses {self.value:g}% of its speed, over {self.threshold:g}%",
            "disk_low": f"low disk space on {self.subject}: {self.value:g} MB free, threshold {self.threshold:g} MB",
            "disk_critical": (f"critically low disk space on {self.subject}: {self.value:g} MB free, "
                              f"threshold {self.threshold:g} MB"),
        }.get(self.alert, f"{self.alert} {self.value:g} over {self.threshold:g}")
        return f"Host {self.host}: {what}"


@dataclass(frozen=True)
class HostNicStateChanged(Event):
    """A NIC that carries a network, or a slave of such a bond, went up or down (oVirt's
    HOST_INTERFACE_STATE_UP/DOWN, HOST_BOND_SLAVE_STATE_UP/DOWN)."""

    nic: str = ""
    old: str = ""
    new: str = ""
    bond: str = ""  # the bond this NIC is a slave of

    @property
    def severity(self) -> str:  # type: ignore[override]  # a NIC going down is a warning
        return "normal" if self.new == "up" else "warning"

    def describe(self) -> str:
        what = f"slave {self.nic} of bond {self.bond}" if self.bond else f"interface {self.nic}"
        return f"Host {self.host} {what} changed from {self.old} to {self.new}"


@dataclass(frozen=True)
class HostCapabilitiesChanged(Event):
    """An Up host's capabilities changed: the cluster checks ran again."""

    changed: str = ""  # the capabilities that changed, comma-separated

    def describe(self) -> str:
        return f"Host {self.host} capabilities changed ({self.changed}); cluster checks ran again"


@dataclass(frozen=True)
class HostSelinuxNotEnforcing(Event):
    """The host runs with SELinux disabled (oVirt's VDS_NO_SELINUX_ENFORCEMENT), flood-regulated."""

    severity: ClassVar[str] = "warning"
    mode: int = -1

    def describe(self) -> str:
        return f"Host {self.host} does not enforce SELinux (mode {self.mode}: disabled)"


@dataclass(frozen=True)
class VmRestartRequested(Event):
    """A highly available VM went down with an error exit: restart it (oVirt's auto-start of HA VMs)."""

    severity: ClassVar[str] = "alert"
    vm_id: str = ""
    vm_name: str = ""
    exit_code: int | None = None
    exit_reason: int | None = None
    exit_message: str = ""

    def describe(self) -> str:
        return (
            f"Highly available VM {self.vm_name or self.vm_id} went down with an error on host {self.host} "
            f"({self.exit_message or exit_reason_name(self.exit_reason)}): restart requested"
        )


@dataclass(frozen=True)
class HostFencingRequested(Event):
    """A host became NonResponsive: what a fencer (soft fencing, then power management) needs."""

    severity: ClassVar[str] = "alert"
    cluster_id: str = ""
    cluster_name: str = ""
    address: str = ""  # the agent's address: the host a soft fencing reaches over SSH
    is_spm: bool = False
    unanswered_attempts: int = 0
    seconds_since_success: float | None = None
    vm_ids: tuple[str, ...] = ()  # VMs lost with it (now Unknown)
    ha_vm_ids: tuple[str, ...] = ()  # of those, highly available: to restart once the host is fenced
    lease_vm_ids: tuple[str, ...] = ()  # of those, with a lease: restartable elsewhere after the lease delay

    def describe(self) -> str:
        spm = ", storage pool manager" if self.is_spm else ""
        return (
            f"Host {self.host} ({self.address}{spm}) is non responsive: fencing requested; "
            f"{len(self.vm_ids)} VMs lost with it, {len(self.ha_vm_ids)} highly available, "
            f"{len(self.lease_vm_ids)} with a lease"
        )


@dataclass(frozen=True)
class VmLeaseRestartRequested(Event):
    """A VM with a storage lease on a NonResponsive host: its lease keeps a second copy from
    running, so it may be started on another host (oVirt's restartVmsWithLease)."""

    severity: ClassVar[str] = "alert"
    vm_id: str = ""
    vm_name: str = ""
    lease_sd_id: str = ""
    seconds_non_responsive: float = 0.0

    def describe(self) -> str:
        return (
            f"VM {self.vm_name or self.vm_id} has a lease (storage domain {self.lease_sd_id}) on host {self.host}, "
            f"non responsive for {self.seconds_non_responsive:.0f} s: restart it on another host"
        )


@dataclass(frozen=True)
class EngineOperationSucceeded(Event):
    """An engine-started run or migration is confirmed: the VM runs where it was sent (runningSucceded)."""

    vm_id: str = ""
    vm_name: str = ""
    kind: str = ""  # run / migrate
    status: str = ""

    def describe(self) -> str:
        verb = "started" if self.kind == "run" else "migrated"
        return f"VM {self.vm_name or self.vm_id} {verb} as asked: {self.status} on host {self.host}"


@dataclass(frozen=True)
class VmRerunRequested(Event):
    """An engine-started run or migration failed: run it again, elsewhere if need be (oVirt's rerun)."""

    severity: ClassVar[str] = "error"
    vm_id: str = ""
    vm_name: str = ""
    kind: str = ""  # run / migrate
    expected_host_id: str | None = None  # where it should have run (None: any host but the source)
    expected_host_name: str = ""
    reason: str = ""

    def describe(self) -> str:
        what = "run" if self.kind == "run" else "migration"
        where = f" to host {self.expected_host_name or self.expected_host_id}" if self.expected_host_id else ""
        return f"{what.capitalize()} of VM {self.vm_name or self.vm_id}{where} failed ({self.reason}): rerun requested"


@dataclass(frozen=True)
class EngineOperationCancelled(Event):
    """The VM went down normally before its run or migration was confirmed: nothing to rerun."""

    severity: ClassVar[str] = "warning"
    vm_id: str = ""
    vm_name: str = ""
    kind: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"Expected {self.kind} of VM {self.vm_name or self.vm_id} ended without running ({self.reason})"


@dataclass(frozen=True)
class VmDevicePlugged(Event):
    """A device the VM did not have, or had unplugged, is in its device list now (hash changed)."""

    vm_id: str = ""
    vm_name: str = ""
    device_id: str = ""
    device_type: str = ""
    device: str = ""
    alias: str = ""

    def describe(self) -> str:
        return f"VM {self.vm_name or self.vm_id}: device {self.device_type}/{self.device} {self.alias} plugged"


@dataclass(frozen=True)
class VmDeviceUnplugged(Event):
    """A device left the VM's device list: a managed one is kept unplugged, an unmanaged one removed."""

    vm_id: str = ""
    vm_name: str = ""
    device_id: str = ""
    device_type: str = ""
    device: str = ""
    alias: str = ""
    removed: bool = False

    def describe(self) -> str:
        what = "removed" if self.removed else "unplugged"
        return f"VM {self.vm_name or self.vm_id}: device {self.device_type}/{self.device} {self.alias} {what}"


@dataclass(frozen=True)
class VmJobStarted(Event):
    vm_id: str = ""
    vm_name: str = ""
    job_id: str = ""
    job_type: str = ""
    block_job_type: str = ""
    image_id: str = ""

    def describe(self) -> str:
        return (f"VM {self.vm_name or self.vm_id}: {self.job_type} job {self.job_id} "
                f"({self.block_job_type or 'unknown'}) started")


@dataclass(frozen=True)
class VmJobEnded(Event):
    """A job left the VM's vmJobs (`outcome` "finished"), or the VM stopped under it ("vm stopped")."""

    vm_id: str = ""
    vm_name: str = ""
    job_id: str = ""
    job_type: str = ""
    block_job_type: str = ""
    outcome: str = ""
    cur: int = 0
    end: int = 0

    @property
    def severity(self) -> str:  # type: ignore[override]  # a job cut short by its VM stopping
        return "normal" if self.outcome == JOB_FINISHED else "warning"

    def describe(self) -> str:
        return (f"VM {self.vm_name or self.vm_id}: {self.job_type} job {self.job_id} "
                f"({self.block_job_type or 'unknown'}) ended: {self.outcome} at {self.cur}/{self.end}")


JOB_FINISHED = "finished"
JOB_VM_STOPPED = "vm stopped"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        HostStatusChanged,
        HostNonResponsive,
        HostConnecting,
        HostNonOperational,
        HostRecovering,
        HostRebooted,
        AgentError,
        InvalidVmData,
        VmAnalysisFailed,
        VmStateChanged,
        VmDown,
        VmDisappeared,
        VmPaused,
        VmNotResponding,
        VmMigrationStarted,
        VmMigrationEnded,
        VmMigrationFailed,
        VmMigrationAborted,
        ExternalVmDiscovered,
        WatchdogEvent,
        GuestMemoryLow,
        BalloonNotWorking,
        VmNicStateChanged,
        VmDestroyed,
        VmDestroyFailed,
        HostMaintenanceReached,
        HostThresholdExceeded,
        HostNicStateChanged,
        HostCapabilitiesChanged,
        HostSelinuxNotEnforcing,
        VmRestartRequested,
        HostFencingRequested,
        VmLeaseRestartRequested,
        EngineOperationSucceeded,
        VmRerunRequested,
        EngineOperationCancelled,
        VmDevicePlugged,
        VmDeviceUnplugged,
        VmJobStarted,
        VmJobEnded,
    )
}


def from_record(record: dict[str, Any]) -> Event:
    """Inverse of Event.to_record; raises KeyError / msgspec.ValidationError on bad input."""
    cls = EVENT_TYPES[record["type"]]
    return msgspec.convert(record["data"], cls)
