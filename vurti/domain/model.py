"""Stored state of clusters, hosts and VMs, as the analyzers see it.

As in oVirt, a host or VM is split by how often each part changes: static
configuration (HostConfig, Cluster), dynamic state that changes on transitions
(HostState, VmState), and statistics that change on every sample (report.HostStats,
report.VmStats). Repositories load and store these; analyzers take and return them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

from vurti.domain.devices import VmDevice, VmJob
from vurti.domain.status import HostStatus, VmStatus

T = TypeVar("T")


@dataclass(frozen=True)
class NicSample:
    """A NIC's byte counters at the agent's `sample_time`: the earlier sample a rate needs."""

    name: str
    rx: int
    tx: int
    sample_time: float


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    refresh_interval: float = 3.0  # seconds between polls of each host
    push_interval: float = 15.0  # seconds between safety-net polls while the host's events flow
    required_cpu_flags: tuple[str, ...] = ()
    required_networks: tuple[str, ...] = ()
    required_rng_sources: tuple[str, ...] = ()  # beyond random/urandom, which every host needs
    # Alert thresholds (oVirt's cluster and system settings); None: the system's (MonitoringPolicy).
    max_memory_used_percent: float | None = None  # log_max_memory_used_threshold, percentage type
    min_free_memory_mb: int | None = None  # the absolute type: alert below this much free memory


@dataclass(frozen=True)
class HostConfig:
    """Static: what an administrator set."""

    id: str
    name: str
    cluster_id: str
    url: str  # agent base URL
    is_spm: bool = False


@dataclass(frozen=True)
class HostState:
    """Dynamic: changes on transitions, written only when it changed."""

    host_id: str
    status: HostStatus = HostStatus.Unassigned
    status_reason: str | None = None  # why NonOperational / NonResponsive
    unanswered_attempts: int = 0
    last_success_at: float | None = None  # engine time of the last answered poll
    last_report_at: float | None = None  # fetched_at of the newest report applied
    recovering_since: float | None = None  # first error-99 reply in a row
    boot_time: str | None = None  # agent bootTime; a change forgets VM timestamps
    cpu_model: str | None = None
    cpu_flags: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    vdsm_version: str | None = None
    vm_count: int = 0
    nic_samples: tuple[NicSample, ...] = ()  # last statistics cycle's counters, for NIC rates
    # Added for the host rules (defaults keep older rows valid):
    kvm_enabled: bool | None = None  # None: capabilities not seen yet
    rng_sources: tuple[str, ...] = ()
    network_nics: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (network, its base NICs), from capabilities
    bond_slaves: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (bond, its slave NICs), from capabilities
    nic_states: tuple[tuple[str, str], ...] = ()  # (NIC of a network, "up"/"down"/"unknown"), last seen
    nics_down_since: float | None = None  # a required network's NIC first seen down (NicDHCPDelayGrace)
    alerts_sent: tuple[tuple[str, float], ...] = ()  # (alert key, when): the flood regulator's memory
    non_responsive_since: float | None = None  # when the host became NonResponsive (lease restarts count from it)
    lease_restart_at: float | None = None  # last time its VMs with a lease were asked to restart elsewhere


@dataclass(frozen=True)
class VmState:
    """Dynamic state of one VM.

    `status_time` is the agent statusTime of the newest report applied and
    `status_time_host` the host that sent it: timestamps are compared only with
    reports from that same host. `status_fetched_at` is that report's engine time
    (`HostReport.fetched_at`): what orders an absence, which carries no statusTime.
    """

    vm_id: str
    name: str = ""
    host_id: str | None = None  # run-on-host
    status: VmStatus = VmStatus.Unassigned
    managed: bool = True  # False: an external VM the engine discovered
    migrating_to_host: str | None = None
    status_time: int | None = None
    status_time_host: str | None = None
    exit_code: int | None = None
    exit_reason: int | None = None
    exit_message: str | None = None
    pause_code: str | None = None
    client_ip: str | None = None
    guest_ips: str | None = None
    hash: str | None = None
    last_watchdog_time: float | None = None
    nic_states: tuple[tuple[str, str], ...] = ()  # (nic name, "up"/"down")
    auto_start: bool = False  # highly available: restart after an error exit
    lease_sd_id: str | None = None  # storage domain of its VM lease: restartable elsewhere when its host is lost
    # Added for the analyzers (defaults keep older rows valid):
    migrating_from_host: str | None = None  # source of a migration handed over to host_id, until it runs there
    guest_mem_low: bool = False  # last stats sample was below the low-memory threshold (warn on transition)
    balloon_misses: int = 0  # consecutive stats samples with the balloon off target (capped at 2)
    jobs: tuple[VmJob, ...] = ()  # block jobs running, as last reported (vmJobs)
    # A Down record of this VM from another host while it ran here (not a migration's leftover):
    # where a later "migration succeeded" without a known destination took it, and when seen.
    down_seen_on_host: str | None = None
    down_seen_at: float | None = None
    status_fetched_at: float | None = None


@dataclass(frozen=True)
class VmUsage:
    """What a VM's statistics carry from one statistics cycle to the next (oVirt's VmStatistics):
    CPU per vCPU and network usage in percent, the last samples of CPU, memory and network
    usage, and the NIC counters the next rates start from.

    Stored in the VM's statistics row, never in its dynamic row: it changes on every
    statistics cycle, and a VM whose state did not change costs no row rewrite.
    """

    usage_cpu_percent: int | None = None  # (cpuUser + cpuSys) / vCPUs; None: vCPU count unknown
    usage_network_percent: int | None = None  # busiest NIC, rx or tx; None: no NIC rate known
    cpu_usage_history: tuple[int, ...] = ()  # oldest first, at most policy.usage_history_limit
    memory_usage_history: tuple[int, ...] = ()
    network_usage_history: tuple[int, ...] = ()
    nic_samples: tuple[NicSample, ...] = ()  # last statistics cycle's counters, for NIC rates


class OperationKind(StrEnum):
    RUN = "run"
    MIGRATE = "migrate"


@dataclass(frozen=True)
class PendingOperation:
    """A run or migration the engine started and told vurti about, until the monitor settles it.

    oVirt's asyncRunningVms: one per VM. `host_id` is where a run should start, or a
    migration's source; `destination_host_id` a migration's destination (None: any host).
    """

    vm_id: str
    kind: OperationKind
    host_id: str
    started_at: float
    deadline: float  # not confirmed by then: failed
    destination_host_id: str | None = None

    @property
    def target(self) -> str | None:
        """The host the VM should end up running on (None: any host but the source)."""
        return self.host_id if self.kind is OperationKind.RUN else self.destination_host_id


@dataclass(frozen=True)
class HostSnapshot:
    """Everything the analyzers need for one host, loaded in a bounded number of queries.

    `vms` holds the VMs that run on the host, migrate to it, or that it reported;
    `host_statuses` the current status of every other host those VMs refer to, and
    `host_names` their names (events are read by people).
    `fence_token` is the DB's last accepted token for this host. `operations` holds the
    pending engine-started runs and migrations that start, end or leave here (their VMs
    are in `vms`).
    `devices` holds the stored devices of the VMs whose report carries devices (only those).
    `vm_usage` holds the stored usage (histories, NIC counters) of those VMs that have statistics.
    """

    cluster: Cluster
    config: HostConfig
    state: HostState
    vms: dict[str, VmState] = field(default_factory=dict)
    host_statuses: dict[str, HostStatus] = field(default_factory=dict)
    fence_token: int = 0
    host_names: dict[str, str] = field(default_factory=dict)
    operations: dict[str, PendingOperation] = field(default_factory=dict)  # by VM id: runs/migrations concerning the host
    devices: dict[str, tuple[VmDevice, ...]] = field(default_factory=dict)
    vm_usage: dict[str, VmUsage] = field(default_factory=dict)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """The fields of a domain type, a dataclass or a msgspec Struct (report.py), in order."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        struct_fields = getattr(cls, "__struct_fields__", None)
        names = _FIELD_NAMES[cls] = (
            tuple(struct_fields) if struct_fields is not None else tuple(f.name for f in fields(cls))
        )
    return names


def changed_fields(old: Any, new: Any) -> dict[str, Any]:
    """The fields of a frozen dataclass that differ between two versions (read from the
    instances' dicts: a getattr per field cost twice as much)."""
    if type(old) is type(new) and hasattr(new, "__dict__"):
        before = old.__dict__
        return {n: v for n, v in new.__dict__.items() if v != before[n]}
    return {n: v for n in field_names(type(new)) if (v := getattr(new, n)) != getattr(old, n)}


def evolve(obj: T, **changes: Any) -> T:
    """`replace`, but the very same object when no value changes (the analyzers' common case),
    and a copy of the instance's fields otherwise: replace() runs the whole __init__ again,
    which cost a statistics cycle ~1 us per VM field. Domain dataclasses have no __post_init__
    (checked: one with it goes through replace)."""
    for name, value in changes.items():
        if getattr(obj, name) != value:
            return _copy_with(obj, changes)
    return obj


def _copy_with(obj: T, changes: dict[str, Any]) -> T:
    cls = type(obj)
    if isinstance(obj, msgspec.Struct):
        return msgspec.structs.replace(obj, **changes)
    if hasattr(cls, "__post_init__") or not changes.keys() <= _field_set(cls):
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]  # (raises for an unknown field)
    new = object.__new__(cls)
    values = new.__dict__
    values.update(obj.__dict__)
    values.update(changes)
    return new


def replace(obj: T, /, **changes: Any) -> T:
    """`dataclasses.replace`, for the report's msgspec Structs too."""
    if isinstance(obj, msgspec.Struct):
        return msgspec.structs.replace(obj, **changes)
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


_FIELD_SETS: dict[type, frozenset[str]] = {}


def _field_set(cls: type) -> frozenset[str]:
    names = _FIELD_SETS.get(cls)
    if names is None:
        names = _FIELD_SETS[cls] = frozenset(field_names(cls))
    return names


__all__ = [
    "Cluster",
    "HostConfig",
    "HostSnapshot",
    "HostState",
    "NicSample",
    "OperationKind",
    "PendingOperation",
    "VmState",
    "VmUsage",
    "changed_fields",
    "evolve",
    "field_names",
    "replace",
]
