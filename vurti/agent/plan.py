"""What to ask a host this cycle, and whether its VM list changed: pure helpers.

`plan_poll` encodes oVirt's cadence (ovirt-monitoring.md): hosts that are not
Up get Host.getCapabilities and Host.getStats every cycle; Up hosts get
Host.getStats with the full Host.getAllVmStats on statistics cycles (cycle 0
and every `stats_every`-th) and only the cheap Host.getVMList otherwise.
VMs are fetched only on hosts whose VMs oVirt monitors.

Decisions where oVirt leaves room:
- Maintenance: host statistics on statistics cycles only, no VMs. oVirt keeps
  polling a host in maintenance (it "stays as it is" when it stops answering)
  but runs no VMs on it.
- Down, Installing, InstallFailed, Reboot, PendingApproval, InstallingOS,
  Kdumping: nothing at all (`PollPlan.idle`); an administrator or an installer
  owns them.
- PreparingForMaintenance: as Up, but host statistics every cycle (oVirt's
  refreshVdsRunTimeInfo), each one written: its VMs are leaving and the move to
  Maintenance waits for VDSM to count none.
- Unassigned and NonResponsive: capabilities and statistics, no VMs; oVirt
  moves an answering host through Initializing first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import UNMONITORED_HOST_STATUSES, VM_MONITORED_HOST_STATUSES, HostStatus


@dataclass(frozen=True)
class PollPlan:
    capabilities: bool = False
    host_stats: bool = False
    full_vms: bool = False
    stats_due: bool = False
    vms: bool = True  # False: no VM verb at all this cycle

    @property
    def idle(self) -> bool:
        """Nothing to ask: the caller skips the host this cycle."""
        return not (self.capabilities or self.host_stats or self.vms)


@dataclass(frozen=True)
class PollRequest:
    """One host poll to run, as plain data: what `poll_many` of either poller takes."""

    host_id: str
    url: str
    now: float
    capabilities: bool = False
    host_stats: bool = False
    full_vms: bool = False
    stats_due: bool = False
    vms: bool = True
    # VM digests at which a short VM list is "unchanged": the poll then skips parsing it
    # (the steady state's common case) and reports `vms_unchanged` instead of the VMs.
    unchanged_if: tuple[str, ...] = ()
    # A devices round: only the devices of these VMs (their device hash changed), steps.device_steps.
    devices_of: tuple[str, ...] = ()

    @classmethod
    def from_plan(
        cls, host_id: str, url: str, plan: PollPlan, *, now: float, unchanged_if: tuple[str, ...] = ()
    ) -> PollRequest:
        return cls(
            host_id=host_id,
            url=url,
            now=now,
            capabilities=plan.capabilities,
            host_stats=plan.host_stats,
            full_vms=plan.full_vms,
            stats_due=plan.stats_due,
            vms=plan.vms,
            unchanged_if=unchanged_if,
        )


def plan_poll(host_status: HostStatus, cycle: int, stats_every: int) -> PollPlan:
    """The calls due for a host in `host_status` on its `cycle`-th poll (0-based)."""
    if stats_every < 1:
        raise ValueError(f"stats_every must be at least 1, not {stats_every}")
    due = cycle % stats_every == 0
    if host_status is HostStatus.Maintenance:
        return PollPlan(host_stats=due, stats_due=due, vms=False)
    if host_status in UNMONITORED_HOST_STATUSES:
        return PollPlan(vms=False)
    vms = host_status in VM_MONITORED_HOST_STATUSES
    if host_status is HostStatus.PreparingForMaintenance:
        return PollPlan(host_stats=True, full_vms=due, stats_due=True, vms=vms)
    if host_status is HostStatus.Up:
        return PollPlan(host_stats=due, full_vms=due, stats_due=due, vms=vms)
    return PollPlan(capabilities=True, host_stats=True, full_vms=vms and due, stats_due=due, vms=vms)


def vm_digest(vms: tuple[VmReport, ...]) -> str:
    """A stable hash of which VMs a host runs and in which VDSM status, to skip unchanged polls.

    Only what both forms carry (the short Host.getVMList and the full
    Host.getAllVmStats): vmId and status string, sorted by id. statusTime grows on
    every poll and is left out; exit and pause details, the qemu monitor and
    statistics come with the full form on statistics cycles, or right after a
    short poll whose digest changed.
    """
    return _digest([(vm.vm_id, vm.vdsm_status) for vm in vms])


def report_digest(report: HostReport) -> str | None:
    """The VM digest a report stands for: None when it carries no complete VM list."""
    return vm_digest(report.vms) if report.vms is not None and not report.partial else None


def raw_vm_digest(result: object) -> str | None:
    """vm_digest of a VM list reply straight from its JSON, without parsing it into VmReports.

    None unless every entry is one the parser would take as it is (an object with a
    non-empty string vmId, seen once, and a string status): anything else goes
    through the parser, which knows how to warn about it.
    """
    if type(result) is not list:
        return None
    pairs = []
    for entry in result:
        if type(entry) is not dict:
            return None
        vm_id, status = entry.get("vmId"), entry.get("status")
        if type(vm_id) is not str or not vm_id or type(status) is not str:
            return None
        pairs.append((vm_id, status))
    if len({vm_id for vm_id, _ in pairs}) != len(pairs):
        return None
    return _digest(pairs)


def vm_hashes(vms: tuple[VmReport, ...]) -> dict[str, str]:
    """VM id -> device hash, for the VMs whose report carries one (Down records do not)."""
    return {vm.vm_id: vm.hash for vm in vms if vm.hash is not None}


def device_digest(hashes: dict[str, str]) -> str:
    """One digest of a host's VM device hashes: equal to the cached one, no VM's devices changed."""
    return _digest(list(hashes.items()))


def _digest(pairs: list[tuple[str, str]]) -> str:
    pairs.sort()
    return hashlib.blake2b(orjson.dumps(pairs), digest_size=16).hexdigest()
