"""Fetchers: one verb each, parsed into domain data; HostPoller turns a plan into a HostReport.

VdsFetcher and VmFetcher raise AgentCallError subclasses (errors.py).
HostPoller.poll never raises for agent problems: a failed call becomes
`HostReport.error`. Calls run in a fixed order (capabilities, host statistics,
VMs) and stop at the first failure; the report then keeps what the earlier
calls returned (e.g. capabilities when Host.getStats timed out) and has
`vms=None`, so nothing is concluded about VMs from a failed poll.

When some VM entries had to be skipped (not an object, no vmId), the report is
marked `partial`: its VM list is not complete, so a missing VM must not be taken
for a VM that went down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vurti.agent.client import AgentClient
from vurti.agent.errors import AgentCallError, to_fetch_error
from vurti.agent.parse import parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats
from vurti.agent.plan import PollPlan
from vurti.domain.report import FetchError, HostCapabilities, HostReport, HostStats, VmReport

log = logging.getLogger(__name__)

GET_CAPABILITIES = "Host.getCapabilities"
GET_STATS = "Host.getStats"
GET_ALL_VM_STATS = "Host.getAllVmStats"
GET_VM_LIST = "Host.getVMList"


@dataclass(frozen=True)
class VmFetch:
    """VMs as one verb reported them; `complete` is False when entries were skipped."""

    vms: tuple[VmReport, ...]
    full: bool
    complete: bool = True


class VdsFetcher:
    """The host itself: statistics and capabilities."""

    def __init__(self, client: AgentClient) -> None:
        self._client = client

    def host_stats(self, url: str, warnings: list[str] | None = None) -> HostStats:
        return parse_host_stats(self._client.call(url, GET_STATS), warnings)

    def capabilities(self, url: str, warnings: list[str] | None = None) -> HostCapabilities:
        return parse_capabilities(self._client.call(url, GET_CAPABILITIES), warnings)


class VmFetcher:
    """The host's VMs: full statistics, or the cheap short list."""

    def __init__(self, client: AgentClient) -> None:
        self._client = client

    def all_vm_stats(self, url: str, warnings: list[str] | None = None) -> VmFetch:
        result = self._client.call(url, GET_ALL_VM_STATS)
        vms = parse_vm_stats(result, warnings)
        return VmFetch(vms=vms, full=True, complete=len(vms) == len(result))

    def vm_list(self, url: str, warnings: list[str] | None = None) -> VmFetch:
        # onlyUUID=false: VDSM <= 4.30 answers bare UUIDs without it; later ones ignore it.
        result = self._client.call(url, GET_VM_LIST, {"onlyUUID": False})
        vms = parse_vm_list(result, warnings)
        return VmFetch(vms=vms, full=False, complete=len(vms) == len(result))


class HostPoller:
    """One poll of one host, as data."""

    def __init__(self, client: AgentClient) -> None:
        self.vds = VdsFetcher(client)
        self.vms = VmFetcher(client)

    def poll(
        self,
        host_id: str,
        url: str,
        *,
        now: float,
        capabilities: bool = False,
        host_stats: bool = False,
        full_vms: bool = False,
        stats_due: bool = False,
        vms: bool = True,
    ) -> HostReport:
        """Run the asked-for calls in order; never raises for agent problems."""
        warnings: list[str] = []
        caps: HostCapabilities | None = None
        stats: HostStats | None = None
        fetched: VmFetch | None = None
        error: FetchError | None = None
        verb = ""
        try:
            if capabilities:
                verb = GET_CAPABILITIES
                caps = self.vds.capabilities(url, warnings)
            if host_stats:
                verb = GET_STATS
                stats = self.vds.host_stats(url, warnings)
            if vms:
                verb = GET_ALL_VM_STATS if full_vms else GET_VM_LIST
                fetched = self.vms.all_vm_stats(url, warnings) if full_vms else self.vms.vm_list(url, warnings)
        except AgentCallError as exc:
            error = to_fetch_error(exc, verb)
            log.debug("poll of host %s failed: %s", host_id, error.message)
        return HostReport(
            host_id=host_id,
            fetched_at=now,
            error=error,
            stats=stats,
            capabilities=caps,
            vms=fetched.vms if fetched is not None else None,
            vms_full=fetched.full if fetched is not None else False,
            stats_due=stats_due,
            partial=fetched is not None and not fetched.complete,
            warnings=tuple(warnings),
        )

    def poll_plan(self, host_id: str, url: str, plan: PollPlan, *, now: float) -> HostReport:
        return self.poll(
            host_id,
            url,
            now=now,
            capabilities=plan.capabilities,
            host_stats=plan.host_stats,
            full_vms=plan.full_vms,
            stats_due=plan.stats_due,
            vms=plan.vms,
        )
