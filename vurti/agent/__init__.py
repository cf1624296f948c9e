"""Host-agent client layer: JSON-RPC calls to VDSM-compatible agents, parsed into domain data.

Build one `make_session(settings)` per process (after any fork), wrap it in an
`AgentClient`, and hand that to `HostPoller` (polls -> HostReport) and
`HostCommands` (VM.destroy -> CommandResult). Neither raises for agent
problems; the exception hierarchy in `errors` stays inside this layer except
for callers of `AgentClient.call` and the fetchers themselves.

Polling many hosts at once on asyncio (AsyncAgentClient, AsyncHostPoller,
BatchPoller) lives in `vurti.agent.aio`, imported from there so that code which
never polls in batches does not load aiohttp.
"""

from __future__ import annotations

from vurti.agent.client import AgentClient, make_session
from vurti.agent.commands import CommandResult, HostCommands
from vurti.agent.errors import (
    AgentCallError,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    InvalidData,
    ProtocolError,
    to_fetch_error,
)
from vurti.agent.fetchers import HostPoller, VdsFetcher, VmFetch, VmFetcher
from vurti.agent.parse import parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats
from vurti.agent.plan import PollPlan, PollRequest, plan_poll, report_digest, vm_digest

__all__ = [
    "AgentCallError",
    "AgentClient",
    "AgentErrorReply",
    "AgentTimeout",
    "AgentUnreachable",
    "CommandResult",
    "HostCommands",
    "HostPoller",
    "InvalidData",
    "PollPlan",
    "PollRequest",
    "ProtocolError",
    "VdsFetcher",
    "VmFetch",
    "VmFetcher",
    "make_session",
    "parse_capabilities",
    "parse_host_stats",
    "parse_vm_list",
    "parse_vm_stats",
    "plan_poll",
    "to_fetch_error",
    "report_digest",
    "vm_digest",
]
