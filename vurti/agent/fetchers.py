"""Fetchers: one verb each, parsed into domain data; HostPoller turns a plan into a HostReport.

VdsFetcher and VmFetcher raise AgentCallError subclasses (errors.py).
HostPoller.poll never raises for agent problems: a failed call becomes
`HostReport.error`. Calls run in a fixed order (capabilities, host statistics,
VMs) and stop at the first failure; the report then keeps what the earlier
calls returned (e.g. capabilities when Host.getStats timed out) and has
`vms=None`, so nothing is concluded about VMs from a failed poll. The order and
the parsing live in steps.py, shared with the asyncio poller (aio.py).

When some VM entries had to be skipped (not an object, no vmId), the report is
marked `partial`: its VM list is not complete, so a missing VM must not be taken
for a VM that went down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vurti.agent.client import AgentClient
from vurti.agent.parse import parse_capabilities, parse_host_stats
from vurti.agent.plan import PollRequest
from vurti.agent.steps import (
    ALL_VM_STATS_CALL,
    GET_ALL_VM_STATS,
    GET_CAPABILITIES,
    GET_STATS,
    GET_VM_LIST,
    VM_LIST_CALL,
    Call,
    VmFetch,
    poll_steps,
    run_steps,
    to_vm_fetch,
)
from vurti.domain.report import HostCapabilities, HostReport, HostStats

__all__ = [
    "GET_ALL_VM_STATS",
    "GET_CAPABILITIES",
    "GET_STATS",
    "GET_VM_LIST",
    "HostPoller",
    "VdsFetcher",
    "VmFetch",
    "VmFetcher",
]


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
        result = self._client.call(url, ALL_VM_STATS_CALL.verb, ALL_VM_STATS_CALL.params)
        return to_vm_fetch(result, full=True, warnings=warnings)

    def vm_list(self, url: str, warnings: list[str] | None = None) -> VmFetch:
        result = self._client.call(url, VM_LIST_CALL.verb, VM_LIST_CALL.params)
        return to_vm_fetch(result, full=False, warnings=warnings)


class HostPoller:
    """One poll of one host, as data."""

    def __init__(self, client: AgentClient) -> None:
        self._client = client
        self.vds = VdsFetcher(client)
        self.vms = VmFetcher(client)

    def poll_request(self, request: PollRequest) -> HostReport:
        def call(step: Call) -> Any:
            return self._client.call(request.url, step.verb, step.params)

        return run_steps(poll_steps(request), call)

    def poll_many(self, requests: Sequence[PollRequest]) -> list[HostReport]:
        """One after the other, reports in request order (BatchPoller in aio.py runs them concurrently)."""
        return [self.poll_request(request) for request in requests]
