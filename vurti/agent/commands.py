"""Commands sent back to host agents, on the same links as the polls (timeouts, TLS).

Like polls, commands never raise for agent problems: the outcome is a
CommandResult. VDSM answers code 1 ("Virtual machine does not exist") when the
VM is already gone; for a destroy that is success (`gone=True`), which makes the
command safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from vurti.agent.errors import AgentCallError, AgentErrorReply, to_fetch_error
from vurti.domain.commands import DestroyVm
from vurti.domain.report import FetchError

VM_DESTROY = "VM.destroy"


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    gone: bool = False  # the target did not exist: nothing left to do
    error: FetchError | None = None


class AgentCaller(Protocol):
    """BatchPoller.call: one JSON-RPC call to the host at `url`, raising AgentCallError subclasses."""

    def call(self, url: str, verb: str, params: dict[str, Any] | None = None) -> Any: ...


class HostCommands:
    def __init__(self, client: AgentCaller) -> None:
        self._client = client

    def destroy_vm(self, url: str, vm_id: str) -> CommandResult:
        """VM.destroy, so the host stops reporting the VM's Down record."""
        try:
            self._client.call(url, VM_DESTROY, {"vmID": vm_id})  # VDSM's name is vmID, not vmId
        except AgentCallError as exc:
            if isinstance(exc, AgentErrorReply) and exc.no_such_vm:
                return CommandResult(ok=True, gone=True)
            return CommandResult(ok=False, error=to_fetch_error(exc, VM_DESTROY))
        return CommandResult(ok=True)

    def run(self, url: str, command: DestroyVm) -> CommandResult:
        """Carry out a domain command against the agent at `url`."""
        return self.destroy_vm(url, command.vm_id)
