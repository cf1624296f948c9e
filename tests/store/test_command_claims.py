"""A command sweep never outlives its claim: what it cannot send in time goes back to the next sweep."""

from __future__ import annotations

from typing import Any

from vurti.agent.commands import CommandResult
from vurti.bus.messagebus import MessageBus
from vurti.domain.commands import DestroyVm
from vurti.domain.model import HostConfig
from vurti.pipeline.commands import CommandService
from vurti.store import SqlUnitOfWork
from vurti.store.command_repository import DONE, PENDING


class SlowHost:
    """Every call takes its full timeout (12 s of the shared fake clock) and succeeds."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[str] = []

    def run(self, url: str, command: Any) -> CommandResult:
        self.clock[0] += 12.0
        self.sent.append(command.vm_id)
        return CommandResult(ok=True)


def test_a_sweep_sends_only_what_fits_in_its_claim(uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]) -> None:
    host = hosts[0].id
    with uow:
        uow.commands.add([(DestroyVm(host, f"vm-{i:03d}", "down recorded"), "x") for i in range(200)], now=10.0)
        uow.commit()
    clock = [10.0]
    slow = SlowHost(clock)
    service = CommandService(slow, lambda: uow, MessageBus({}, lambda: uow), lambda: clock[0],  # type: ignore[arg-type]
                             lease=60.0, call_time=12.0)
    assert service.run_due() == 5  # 5 calls of 12 s fit in the 60 s claim
    assert clock[0] <= 10.0 + 60.0
    with uow:
        states = [uow.commands.state(c.key) for c in uow.commands.list_commands()]
        # The rest is due again at once, not held for the claim, and no other sweep sent any twice.
        assert states.count(DONE) == 5 and states.count(PENDING) == 195
        assert len(uow.commands.due(clock[0], limit=500)) == 195
    assert service.run_due() == 5
    assert len(set(slow.sent)) == len(slow.sent) == 10
