"""Carry out host commands (VM.destroy) after the state change that asked for them committed.

Commands wait in the host_commands table, written in the update's transaction,
once per record. A sender takes those that are due, calls the host, and marks each
done, or failed with an exponential backoff (given up after `max_attempts`); each
outcome is an audit line. Destroy is idempotent on the host ("no such VM" counts
as done), so two senders racing on one command do no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vurti.agent import HostCommands
from vurti.bus.messagebus import MessageBus
from vurti.domain.events import Event, VmDestroyed, VmDestroyFailed

log = logging.getLogger(__name__)


def backoff(attempts: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds before retry number `attempts` (1, 2, ...)."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


class CommandService:
    def __init__(
        self,
        host_commands: HostCommands,
        uow_factory: Callable[[], Any],
        bus: MessageBus,
        clock: Callable[[], float],
        max_attempts: int = 10,
        lease: float = 60.0,
        call_time: float = 12.0,
    ) -> None:
        """`call_time`: the longest one call to a host can take (its connect + read timeouts)."""
        self._host_commands = host_commands
        self._uow_factory = uow_factory
        self._bus = bus
        self._clock = clock
        self._max_attempts = max_attempts
        self._lease = lease
        self._call_time = call_time

    def run_due(self, host_id: str | None = None, limit: int = 200) -> int:
        """Send the commands that are due (of one host, or all); return how many succeeded."""
        now = self._clock()
        with self._uow_factory() as uow:
            # Claimed for a lease longer than a call can take: another sender skips them meanwhile.
            due = uow.commands.claim(now, lease=self._lease, limit=limit, host_id=host_id)
            hosts: dict[str, Any] = {}
            for pending in due:
                if pending.command.host_id not in hosts:
                    hosts[pending.command.host_id] = uow.hosts.get_host(pending.command.host_id)
            vm_names = uow.vms.names([pending.command.vm_id for pending in due]) if due else {}
            uow.commit()
        if not due:
            return 0
        outcomes: list[tuple[Any, bool, str | None]] = []
        unsent: list[str] = []
        for pending in due:
            if self._clock() + self._call_time > now + self._lease:
                # The claim would run out during this call: another sweep may take the command
                # and send it again. What is left goes back, due at once, to the next sweep.
                unsent.append(pending.key)
                continue
            config = hosts.get(pending.command.host_id)
            if config is None:
                outcomes.append((pending, False, "host no longer exists"))
                continue
            result = self._host_commands.run(config.url, pending.command)
            outcomes.append((pending, result.ok, None if result.ok else _text(result.error)))
        if unsent:
            log.info("%d host commands left for the next sweep: their claim would run out", len(unsent))
        names = {host_id: config.name for host_id, config in hosts.items() if config is not None}
        return self._record(outcomes, names, vm_names, unsent)

    def _record(
        self, outcomes: list[tuple[Any, bool, str | None]], names: dict[str, str], vm_names: dict[str, str],
        unsent: list[str],
    ) -> int:
        now = self._clock()
        events: list[Event] = []
        succeeded = 0
        with self._uow_factory() as uow:
            uow.commands.release(unsent, now)
            for pending, ok, error in outcomes:
                command = pending.command
                if ok:
                    uow.commands.mark_done(pending.key)
                    events.append(VmDestroyed(command.host_id, now, host_name=names.get(command.host_id, ""),
                                              vm_id=command.vm_id, reason=command.reason,
                                              vm_name=vm_names.get(command.vm_id, "")))
                    succeeded += 1
                    continue
                attempt = pending.attempts + 1
                retry_at = None if attempt >= self._max_attempts else now + backoff(attempt)
                uow.commands.mark_failed(pending.key, error or "failed", retry_at)
                events.append(VmDestroyFailed(command.host_id, now, host_name=names.get(command.host_id, ""),
                                              vm_id=command.vm_id, error=error or "", attempt=attempt,
                                              vm_name=vm_names.get(command.vm_id, "")))
                log.warning("destroy of VM %s on host %s failed (attempt %d): %s",
                            vm_names.get(command.vm_id) or command.vm_id, names.get(command.host_id) or command.host_id,
                            attempt, error)
            items = uow.outbox.add(events, self._bus.names, now)
            uow.commit()
        self._bus.deliver(items)
        return succeeded


def _text(error: Any) -> str:
    if error is None:
        return "failed"
    return f"{error.kind}: {error.message}" if hasattr(error, "kind") else str(error)
