"""Literal-friendly builders for analyzer tests: one host "h1" in cluster "c1"."""

from __future__ import annotations

from typing import Any

from vurti.analyze import analyze
from vurti.domain.analysis import Analysis
from vurti.domain.events import Event
from vurti.domain.model import Cluster, HostConfig, HostSnapshot, HostState, PendingOperation, VmState
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import FetchError, FetchErrorKind, HostReport, HostStats, VmReport
from vurti.domain.status import HostStatus, VmStatus

H = "h1"
NOW = 1000.0
POLICY = MonitoringPolicy()
CLUSTER = Cluster(id="c1", name="c1")


def host(status: HostStatus = HostStatus.Up, **fields: Any) -> HostState:
    fields.setdefault("last_success_at", NOW - 3)
    fields.setdefault("last_report_at", NOW - 3)
    return HostState(host_id=H, status=status, **fields)


def vm(vm_id: str = "v1", status: VmStatus = VmStatus.Up, host_id: str | None = H, **fields: Any) -> VmState:
    fields.setdefault("name", vm_id)
    return VmState(vm_id=vm_id, status=status, host_id=host_id, **fields)


def snapshot(
    state: HostState | None = None,
    vms: tuple[VmState, ...] = (),
    host_statuses: dict[str, HostStatus] | None = None,
    cluster: Cluster = CLUSTER,
    is_spm: bool = False,
    host_names: dict[str, str] | None = None,
    operations: tuple[PendingOperation, ...] = (),
) -> HostSnapshot:
    return HostSnapshot(
        cluster=cluster,
        config=HostConfig(id=H, name=H, cluster_id=cluster.id, url="http://h1", is_spm=is_spm),
        state=state or host(),
        vms={v.vm_id: v for v in vms},
        host_statuses=host_statuses or {"h2": HostStatus.Up, "h3": HostStatus.Up},
        host_names=host_names or {},
        operations={op.vm_id: op for op in operations},
    )


def report(vms: tuple[VmReport, ...] | None = (), **fields: Any) -> HostReport:
    fields.setdefault("fetched_at", NOW)
    fields.setdefault("vms_full", True)
    return HostReport(host_id=fields.pop("host_id", H), vms=vms, **fields)


def failed(kind: FetchErrorKind = FetchErrorKind.TIMEOUT, code: int | None = None, **fields: Any) -> HostReport:
    fields.setdefault("fetched_at", NOW)
    return HostReport(host_id=H, error=FetchError(kind=kind, message=f"{kind} failure", code=code), **fields)


def up(vm_id: str = "v1", status: VmStatus | None = VmStatus.Up, **fields: Any) -> VmReport:
    return VmReport(vm_id=vm_id, status=status, **fields)


def down(vm_id: str = "v1", code: int = 0, reason: int = 0, message: str = "", **fields: Any) -> VmReport:
    return VmReport(
        vm_id=vm_id, status=VmStatus.Down, exit_code=code, exit_reason=reason, exit_message=message, **fields
    )


def stats(boot_time: str = "boot-1") -> HostStats:
    return HostStats(boot_time=boot_time)


def run(snap: HostSnapshot, rep: HostReport, now: float = NOW, policy: MonitoringPolicy = POLICY) -> Analysis:
    return analyze(snap, rep, now, policy)


def names(analysis: Analysis) -> list[str]:
    return [type(e).__name__ for e in analysis.events]


def events_of(analysis: Analysis, cls: type[Event]) -> list[Any]:
    return [e for e in analysis.events if isinstance(e, cls)]


def vm_after(analysis: Analysis, snap: HostSnapshot, vm_id: str = "v1") -> VmState | None:
    """The VM's state after the analysis (unchanged ones from the snapshot)."""
    for v in analysis.vms:
        if v.vm_id == vm_id:
            return v
    return snap.vms.get(vm_id)


def host_after(analysis: Analysis, snap: HostSnapshot) -> HostState:
    return analysis.host or snap.state


