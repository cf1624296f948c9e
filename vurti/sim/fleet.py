"""The simulated fleet's state: hosts, VMs and the per-host records VDSM would report.

A VM (`VmSpec`) may be reported by two hosts at once (during and after a
migration), so what a host reports is a `Record` of that VM on that host. Every
identity (host UUIDs, VM UUIDs, random streams) is derived from the
seed, and time advances in ticks (one simulated second each), so the same seed
and the same actions at the same ticks give the same history.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from vurti.domain.status import VmStatus

INT_MAX = 2**31 - 1
VDSM, LEGACY_VDSM = "4.50.7", "4.30.46"  # what a host's capabilities say it runs
HISTORY_LIMIT = 200_000
DESTROY_LIMIT = 100_000


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class VmSpec:
    """What does not change when a VM moves: identity and size."""

    __slots__ = ("dev_cache", "home", "mem_mb", "name", "ncpu", "ndisks", "nnics", "noise", "plugged", "records",
                 "saved", "unplugged", "vm_id", "vnc_port")

    def __init__(self, vm_id: str, name: str, home: int, rng: random.Random) -> None:
        self.vm_id = vm_id
        self.name = name
        self.home = home  # index of the host it last ran on (where life restarts it)
        self.mem_mb = rng.choice((1024, 2048, 4096, 8192))
        self.ncpu = rng.choice((1, 2, 2, 4))
        self.nnics = rng.choice((0, 1, 1, 1, 2))
        self.ndisks = rng.choice((1, 1, 2))
        self.noise = rng.getrandbits(32)  # per-VM seed of its statistics
        self.records: list[Record] = []
        self.saved = False  # hibernated: the next start restores its state
        self.vnc_port = 0
        self.plugged: list[dict[str, Any]] = []  # devices hot-plugged since the start (sim/devices.py)
        self.unplugged: set[str] = set()  # deviceIds of its own devices hot-unplugged
        self.dev_cache: tuple[Any, list[dict[str, Any]], str] | None = None  # (generation, devices, hash)


class Migration:
    """A migration in progress, shared by the source and destination records."""

    __slots__ = ("destination", "mode", "phase", "progress", "source")

    def __init__(self, source: Record, destination: Record, mode: str) -> None:
        self.source = source
        self.destination = destination
        self.mode = mode  # "precopy" / "postcopy" / "fail"
        self.progress = 0
        self.phase = "precopy"  # then "postcopy" for post-copy migrations


class Record:
    """One VM as one host reports it."""

    __slots__ = (
        "exit_code",
        "exit_message",
        "exit_reason",
        "gen",
        "host",
        "jobs",
        "migration",
        "monitor_ok",
        "pause_code",
        "spec",
        "started",
        "status",
        "watchdog",
    )

    def __init__(self, spec: VmSpec, host: Host, status: VmStatus, started: float) -> None:
        self.spec = spec
        self.host = host
        self.status = status
        self.pause_code: str | None = None
        self.exit_code = 0
        self.exit_reason = 0
        self.exit_message = ""
        self.started = started  # wall clock (time.time) of the VM's start, for elapsedTime
        self.monitor_ok = True
        self.watchdog: dict[str, Any] | None = None
        self.migration: Migration | None = None
        self.gen = 0  # bumped on every transition; scheduled steps check it
        self.jobs: dict[str, dict[str, Any]] = {}  # block jobs running (vmJobs), by job id


class Host:
    """One simulated VDSM: its records, its clock, its fault."""

    __slots__ = (
        "boot_time",
        "calls",
        "caps",
        "clock_base_ms",
        "clock_t0",
        "cluster",
        "fault",
        "index",
        "legacy",
        "list_cache",
        "name",
        "nic_states",
        "parked",
        "records",
        "rng",
        "stats_cache",
        "usage",
        "uuid",
        "version",
    )

    def __init__(self, index: int, name: str, cluster: int, seed: int, t0: float, legacy: bool = False) -> None:
        ident = random.Random(f"{seed}/host/{index}")
        self.index = index
        self.name = name
        self.uuid = seeded_uuid(ident)
        self.cluster = cluster
        self.records: dict[str, Record] = {}
        self.version = 0  # bumped whenever what the host reports changes
        self.rng = random.Random(f"{seed}/life/{index}")
        self.parked: list[VmSpec] = []  # VMs of this host destroyed everywhere: life may start them again
        uptime_s = ident.randint(3_600, 90 * 86_400)
        self.clock_base_ms = uptime_s * 1000
        self.clock_t0 = t0
        self.boot_time = int(time.time()) - uptime_s
        self.fault: Any = None
        self.list_cache: tuple[int, list[bytes]] | None = None
        self.stats_cache: tuple[tuple[int, int], list[bytes]] | None = None
        # Set through the control API (vurti/sim/conditions.py): what Host.getStats and
        # Host.getCapabilities report besides the VMs.
        self.nic_states: dict[str, str] = {}  # NIC -> "up"/"down"/"unknown" (default up)
        self.usage: dict[str, Any] = {}  # cpu, mem_used (percent), swap_free, disk_free (MB), nic_load
        self.caps: dict[str, Any] = {}  # capabilities' keys replaced (kvmEnabled, cpuFlags, rngSources, ...)
        # VDSM 4.30 (devices in Host.getVMFullList, no Host.dumpxmls) instead of today's 4.50.
        self.legacy = legacy
        self.calls: dict[str, int] = {}  # verbs answered (or refused as unknown), for tests

    @property
    def vdsm_version(self) -> str:
        return LEGACY_VDSM if self.legacy else VDSM

    def now_ms(self) -> int:
        """The host's monotonic clock in milliseconds."""
        return self.clock_base_ms + int((time.monotonic() - self.clock_t0) * 1000)

    def status_time(self) -> int:
        """VDSM's statusTime / notify_time: monotonic ms plus INT_MAX."""
        return self.now_ms() + INT_MAX

    def reboot_clock(self, uptime_s: int) -> None:
        """Agent restart: a new clock base and a new boot time."""
        self.clock_base_ms = uptime_s * 1000
        self.clock_t0 = time.monotonic()
        self.boot_time = int(time.time()) - uptime_s
        self.touch()

    def touch(self) -> None:
        self.version += 1


Listener = Callable[[Record], None]


class Fleet:
    """All hosts and VMs, the tick counter, the scheduled steps and the history."""

    def __init__(self, seed: int, hosts: int, vms_per_host: int, clusters: int = 1, legacy_hosts: int = 0) -> None:
        """The first `legacy_hosts` hosts run VDSM 4.30, the others 4.50."""
        self.seed = seed
        self.tick = 0
        self.t0 = time.monotonic()
        self.hosts: list[Host] = []
        self.by_name: dict[str, Host] = {}
        self.vms: dict[str, VmSpec] = {}
        self.clusters = max(1, min(clusters, max(hosts, 1)))
        self.by_cluster: list[list[Host]] = [[] for _ in range(self.clusters)]
        self.due: dict[int, list[tuple[Callable[..., None], tuple[Any, ...]]]] = {}
        self.history: deque[tuple[int, int, str, str, str, str]] = deque(maxlen=HISTORY_LIMIT)
        self.history_seq = 0
        self.destroys: deque[dict[str, Any]] = deque(maxlen=DESTROY_LIMIT)
        self.listeners: list[Listener] = []
        now = time.time()
        for i in range(hosts):
            cluster = i * self.clusters // max(hosts, 1)
            host = Host(i, f"host-{i + 1:04d}", cluster, seed, self.t0, legacy=i < legacy_hosts)
            self.hosts.append(host)
            self.by_name[host.name] = host
            self.by_cluster[cluster].append(host)
            ident = random.Random(f"{seed}/vms/{i}")
            for j in range(vms_per_host):
                spec = VmSpec(seeded_uuid(ident), f"vm-{i + 1:04d}-{j + 1:02d}", i, ident)
                spec.vnc_port = 5900 + j
                self.vms[spec.vm_id] = spec
                rec = Record(spec, host, VmStatus.Up, now - ident.randint(600, 30 * 86_400))
                self.attach(rec)

    # -- records ---------------------------------------------------------------

    def attach(self, rec: Record) -> None:
        rec.host.records[rec.spec.vm_id] = rec
        rec.spec.records.append(rec)
        rec.host.touch()

    def detach(self, rec: Record) -> None:
        host = rec.host
        if host.records.get(rec.spec.vm_id) is rec:
            del host.records[rec.spec.vm_id]
        if rec in rec.spec.records:
            rec.spec.records.remove(rec)
        rec.gen += 1
        host.touch()
        if not rec.spec.records:
            self.hosts[rec.spec.home].parked.append(rec.spec)

    def set_status(self, rec: Record, status: VmStatus, what: str, detail: str = "") -> None:
        """Every status change goes through here: history, cache invalidation, push."""
        rec.status = status
        rec.gen += 1
        rec.host.touch()
        self.record_event(rec.host.name, rec.spec.vm_id, what, detail or status.name)
        for listener in self.listeners:
            listener(rec)

    def record_event(self, host: str, vm_id: str, what: str, detail: str) -> None:
        self.history_seq += 1
        self.history.append((self.history_seq, self.tick, host, vm_id, what, detail))

    # -- time ------------------------------------------------------------------

    def schedule(self, delay: int, fn: Callable[..., None], *args: Any) -> None:
        self.due.setdefault(self.tick + max(1, delay), []).append((fn, args))

    def step(self, extra: Callable[[], None] | None = None) -> None:
        """Advance one tick: run what is due, then `extra` (life)."""
        self.tick += 1
        for fn, args in self.due.pop(self.tick, ()):
            fn(*args)
        if extra is not None:
            extra()

    def host_of(self, name: str) -> Host:
        host = self.by_name.get(name)
        if host is None:
            raise KeyError(f"no such host: {name}")
        return host
