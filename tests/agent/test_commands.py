"""HostCommands.destroy_vm against a real agent server."""

from __future__ import annotations

from tests.agent.server import AgentServer, error, raw
from vurti.agent import AgentClient, CommandResult, HostCommands
from vurti.domain.commands import DestroyVm
from vurti.domain.report import FetchErrorKind

VM = "7f1c9e2a-0d4b-4c7e-9a51-3f2e8d6b1a90"


def test_destroy_sends_vmID_and_succeeds_on_true(server: AgentServer, client: AgentClient) -> None:
    server.reply("VM.destroy", True)
    assert HostCommands(client).destroy_vm(server.url, VM) == CommandResult(ok=True)
    (request,) = server.received
    assert request["method"] == "VM.destroy" and request["params"] == {"vmID": VM}


def test_destroy_of_a_vm_that_is_gone_is_done(server: AgentServer, client: AgentClient) -> None:
    server.on("VM.destroy", error(1, f"Virtual machine does not exist: {{'vmId': '{VM}'}}"))
    assert HostCommands(client).destroy_vm(server.url, VM) == CommandResult(ok=True, gone=True)


def test_destroy_failure_is_data(server: AgentServer, client: AgentClient) -> None:
    server.on("VM.destroy", error(99, "Recovering from crash or Initializing"))
    result = HostCommands(client).destroy_vm(server.url, VM)
    assert not result.ok and not result.gone
    assert result.error is not None and result.error.is_recovering and result.error.verb == "VM.destroy"


def test_destroy_against_a_broken_agent_is_data(server: AgentServer, client: AgentClient) -> None:
    server.on("VM.destroy", raw(b"nope", status=503))
    result = HostCommands(client).destroy_vm(server.url, VM)
    assert result.error is not None and result.error.kind is FetchErrorKind.PROTOCOL


def test_destroy_against_nothing_listening_is_data(client: AgentClient) -> None:
    result = HostCommands(client).destroy_vm("http://127.0.0.1:1/", VM)
    assert result.error is not None and result.error.kind is FetchErrorKind.UNREACHABLE


def test_run_carries_out_a_domain_command(server: AgentServer, client: AgentClient) -> None:
    server.reply("VM.destroy", True)
    result = HostCommands(client).run(server.url, DestroyVm(host_id="h1", vm_id=VM, reason="down recorded"))
    assert result.ok
    assert server.received[0]["params"] == {"vmID": VM}
