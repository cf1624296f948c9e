"""Host-agent client layer: JSON-RPC over STOMP to VDSM, parsed into domain data.

One `BatchPoller` per process (vurti.agent.aio) holds the process's links to
hosts (links.py: one persistent STOMP connection per host, link.py) on one
event loop; it runs polls (steps.py: the verb sequence and the parsing; plan.py:
what to ask) into HostReports, and single calls for `HostCommands`
(VM.destroy -> CommandResult). Neither raises for agent problems; the exception
hierarchy in `errors` stays inside this layer.
"""

from __future__ import annotations

from vurti.agent.address import AddressError, AgentAddress, parse_address
from vurti.agent.commands import AgentCaller, CommandResult, HostCommands
from vurti.agent.errors import (
    AgentCallError,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    InvalidData,
    ProtocolError,
    to_fetch_error,
)
from vurti.agent.parse import parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats
from vurti.agent.plan import PollPlan, PollRequest, device_digest, plan_poll, report_digest, vm_digest, vm_hashes

__all__ = [
    "AddressError",
    "AgentAddress",
    "AgentCallError",
    "AgentCaller",
    "AgentErrorReply",
    "AgentTimeout",
    "AgentUnreachable",
    "CommandResult",
    "HostCommands",
    "InvalidData",
    "PollPlan",
    "PollRequest",
    "ProtocolError",
    "device_digest",
    "parse_address",
    "parse_capabilities",
    "parse_host_stats",
    "parse_vm_list",
    "parse_vm_stats",
    "plan_poll",
    "report_digest",
    "to_fetch_error",
    "vm_digest",
    "vm_hashes",
]
