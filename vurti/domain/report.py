"""What a fetch learned about a host: plain, typed, JSON-serialisable data.

A HostReport is the only thing that travels from the fetch side to the update side
(as JSON in a Celery message). The types are frozen msgspec Structs, not dataclasses:
a statistics poll of 20 VMs builds ~150 of them, and a frozen dataclass costs ~8x a
Struct to build (its __init__ sets each field through object.__setattr__), to decode
from a message and to copy. It carries the agent's own clocks (VM statusTime,
host bootTime) so stale or duplicated reports can be recognised, and fetch
failures as data (FetchError), never as exceptions.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from vurti.domain.devices import VmDevice, VmJob
from vurti.domain.status import VmStatus


class FetchErrorKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused, DNS, TLS handshake
    TIMEOUT = "timeout"  # connect or read timeout
    PROTOCOL = "protocol"  # HTTP error, not JSON, not JSON-RPC, reply too large
    AGENT_ERROR = "agent_error"  # a JSON-RPC error reply (code and message kept)
    INVALID_DATA = "invalid_data"  # JSON-RPC result of the wrong shape


# JSON-RPC error code VDSM answers every verb with while it recovers after a restart.
AGENT_RECOVERING_CODE = 99


class FetchError(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    kind: FetchErrorKind
    message: str
    verb: str = ""
    code: int | None = None

    @property
    def is_network_failure(self) -> bool:
        """oVirt's handleNetworkException path: the host did not answer."""
        return self.kind in (FetchErrorKind.UNREACHABLE, FetchErrorKind.TIMEOUT)

    @property
    def is_recovering(self) -> bool:
        return self.kind is FetchErrorKind.AGENT_ERROR and self.code == AGENT_RECOVERING_CODE


class NicStats(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One NIC's sample. VDSM sends byte counters and their `sampleTime`, not rates: the
    analyzer derives the rates from the previous sample (analyze/nic_rates.py)."""

    name: str
    state: str = "unknown"  # "up" / "down" / "unknown"
    speed: int = 0  # Mbps
    rx_rate: float | None = None  # percent of speed; None: unknown (no earlier sample)
    tx_rate: float | None = None
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    sample_time: float | None = None  # agent's monotonic seconds of the counters


class DiskStats(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    name: str
    read_rate: float = 0.0  # bytes/s
    write_rate: float = 0.0
    read_latency: float | None = None  # seconds; None: not reported (unknown, not 0)
    write_latency: float | None = None
    flush_latency: float | None = None
    apparent_size: int = 0
    true_size: int = 0


class VmStats(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """A VM's sampled figures: written to statistics tables, every Nth cycle."""

    cpu_user: float = 0.0  # percent of one host CPU, summed over the VM's vCPUs (VDSM's vmstats)
    cpu_sys: float = 0.0
    elapsed_time: float = 0.0  # seconds since start
    mem_usage: int = 0  # percent
    balloon_cur: int | None = None  # KiB
    balloon_target: int | None = None
    balloon_min: int | None = None
    balloon_max: int | None = None
    guest_mem_free: int | None = None  # KiB, from memoryStats
    guest_mem_total: int | None = None
    guest_mem_unused: int | None = None
    migration_progress: int | None = None
    vcpu_count: int | None = None  # vcpuCount; absent while libvirt has no sample
    nics: tuple[NicStats, ...] = ()
    disks: tuple[DiskStats, ...] = ()


class Watchdog(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    action: str | None  # None: VDSM left it out
    time: float  # agent's wall time of the event


class VmReport(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One VM as one host reported it.

    `status` is None when the agent sent a status string no engine status matches;
    `problem` then says why, and the analyzer reports an error for this VM alone.
    `stats` is None for the short form (Host.getVMList) and for Down records.
    `jobs` is None when the report has no `vmJobs` (unknown: stored jobs stay), and
    `devices` None unless this poll read the VM's devices (its `hash` changed).
    """

    vm_id: str
    status: VmStatus | None
    vdsm_status: str = ""
    status_time: int | None = None  # agent monotonic ms; compared per host only
    name: str | None = None
    exit_code: int | None = None
    exit_reason: int | None = None
    exit_message: str | None = None
    pause_code: str | None = None
    monitor_response: int | None = None  # -1: qemu monitor stuck
    guest_cpu_count: int | None = None
    client_ip: str | None = None
    guest_ips: str | None = None
    guest_fqdn: str | None = None
    hash: str | None = None
    watchdog: Watchdog | None = None
    stats: VmStats | None = None
    problem: str | None = None
    jobs: tuple[VmJob, ...] | None = None
    devices: tuple[VmDevice, ...] | None = None


class HostStats(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    cpu_user: float = 0.0
    cpu_sys: float = 0.0
    cpu_idle: float = 100.0
    cpu_load: float = 0.0
    mem_free: int = 0  # MiB
    mem_used: int = 0  # percent
    mem_shared: int = 0
    swap_free: int = 0  # MiB
    swap_total: int = 0
    vm_count: int = 0
    vm_active: int = 0
    vm_migrating: int = 0
    elapsed_time: float = 0.0  # agent uptime, seconds
    boot_time: str | None = None  # changes when the host reboots
    nics: tuple[NicStats, ...] = ()
    disks_free: tuple[tuple[str, int], ...] = ()  # (path, free MiB) of diskStats: the host's local disks


class HostCapabilities(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    cpu_model: str = ""
    cpu_flags: tuple[str, ...] = ()
    cpu_cores: int = 0
    cpu_sockets: int = 0
    mem_size_mb: int = 0
    networks: tuple[str, ...] = ()
    vdsm_version: str = ""
    kvm_enabled: bool = True
    host_uuid: str = ""
    rng_sources: tuple[str, ...] = ()
    selinux_mode: int | None = None  # 1 enforcing, 0 permissive, -1 disabled; None: not reported
    network_nics: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (network, the NICs under it, VLANs stripped)
    bond_slaves: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (bond, its slave NICs)


class HostReport(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One poll of one host.

    `vms` is None when the VM list was not fetched, a full list otherwise (unless
    `partial`, reserved for pushed events that carry some VMs only). `vms_full`
    says whether the VMs carry statistics (Host.getAllVmStats) or are the short
    form (Host.getVMList). `stats_due` marks a statistics cycle (every Nth poll),
the only cycles whose statistics are written. `fetched_at` is the engine's wall clock when the poll
    started; agent clocks are in the VM reports and in `stats.boot_time`.
    """

    host_id: str
    fetched_at: float
    error: FetchError | None = None
    stats: HostStats | None = None
    capabilities: HostCapabilities | None = None
    vms: tuple[VmReport, ...] | None = None
    vms_full: bool = False
    stats_due: bool = False  # a statistics cycle: write host/VM statistics
    partial: bool = False
    warnings: tuple[str, ...] = ()
    vms_unchanged: bool = False  # the short VM list matched the digest the poll was given: vms not parsed
    # On a failed poll: the engine time of the host's last answered poll, as the poll cache
    # knows it (answered polls that changed nothing never reach the update path).
    last_answered_at: float | None = None
    # Set when the poll read devices (some VM's hash changed): the (VM id, device hash) pairs
    # whose devices are now known, for the poll cache once the update has committed.
    device_hashes: tuple[tuple[str, str], ...] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """Builtin types only, for Celery's JSON serializer."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    @classmethod
    def from_json(cls, data: Any) -> HostReport:
        """Rebuild and type-check a report; raises msgspec.ValidationError."""
        return msgspec.convert(data, cls)
