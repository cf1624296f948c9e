"""HostCommands.destroy_vm over STOMP, with BatchPoller.call as the AgentCaller the workers use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.helpers import closed_port_url
from tests.agent.server import AgentServer, drop, error, hang, raw
from vurti.agent import CommandResult, HostCommands
from vurti.agent.aio import BatchPoller
from vurti.config import AgentSettings
from vurti.domain.commands import DestroyVm
from vurti.domain.report import FetchErrorKind

VM = "7f1c9e2a-0d4b-4c7e-9a51-3f2e8d6b1a90"


@pytest.fixture
def commands() -> Iterator[HostCommands]:
    poller = BatchPoller(AgentSettings(connect_timeout=1.0, read_timeout=0.5))
    yield HostCommands(poller)
    poller.close()


def test_destroy_sends_vmID_and_succeeds_on_true(server: AgentServer, commands: HostCommands) -> None:
    server.reply("VM.destroy", True)
    assert commands.destroy_vm(server.url, VM) == CommandResult(ok=True)
    (request,) = server.received
    assert request["method"] == "VM.destroy" and request["params"] == {"vmID": VM}


def test_destroy_of_a_vm_that_is_gone_is_done(server: AgentServer, commands: HostCommands) -> None:
    server.on("VM.destroy", error(1, f"Virtual machine does not exist: {{'vmId': '{VM}'}}"))
    assert commands.destroy_vm(server.url, VM) == CommandResult(ok=True, gone=True)


def test_destroy_refused_by_a_recovering_agent_is_an_error(server: AgentServer, commands: HostCommands) -> None:
    server.on("VM.destroy", error(99, "Recovering from crash or Initializing"))
    result = commands.destroy_vm(server.url, VM)
    assert not result.ok and not result.gone
    assert result.error is not None and result.error.is_recovering and result.error.verb == "VM.destroy"


@pytest.mark.parametrize(
    "behaviour, kind",
    [
        (error(-32603, "Internal JSON-RPC error"), FetchErrorKind.AGENT_ERROR),
        (raw(b"nope"), FetchErrorKind.PROTOCOL),
        (hang, FetchErrorKind.TIMEOUT),
        (drop, FetchErrorKind.UNREACHABLE),
    ],
    ids=["other agent error", "not json", "no reply", "connection dropped"],
)
def test_other_failures_are_a_command_result_error(
    server: AgentServer, commands: HostCommands, behaviour: object, kind: FetchErrorKind
) -> None:
    server.on("VM.destroy", behaviour)  # type: ignore[arg-type]
    result = commands.destroy_vm(server.url, VM)
    assert not result.ok and not result.gone
    assert result.error is not None and result.error.kind is kind and result.error.verb == "VM.destroy"


def test_destroy_against_nothing_listening_is_an_error(commands: HostCommands) -> None:
    result = commands.destroy_vm(closed_port_url(), VM)
    assert result.error is not None and result.error.kind is FetchErrorKind.UNREACHABLE


def test_run_carries_out_a_domain_command(server: AgentServer, commands: HostCommands) -> None:
    server.reply("VM.destroy", True)
    result = commands.run(server.url, DestroyVm(host_id="h1", vm_id=VM, reason="down recorded"))
    assert result.ok
    assert server.received[0]["params"] == {"vmID": VM}
