"""Outbox delivery per subscriber, the audit log, and host command bookkeeping."""

from __future__ import annotations

from vurti.domain.commands import DestroyVm
from vurti.domain.events import AgentError, HostStatusChanged, VmDown
from vurti.store import SqlUnitOfWork

EVENTS = (
    HostStatusChanged("h1", 10.0, "Unassigned", "Up"),
    VmDown("h1", 11.0, "vm-1", "web", 1, 2, "qemu died"),
    AgentError("h2", 12.0, "timeout", "read timed out", "Host.getStats"),
)


def test_each_subscriber_is_delivered_and_retried_on_its_own(uow: SqlUnitOfWork) -> None:
    with uow:
        added = uow.outbox.add(EVENTS, ["audit", "live"], now=100.0)
        uow.commit()
    assert [e for _, e in added] == list(EVENTS)
    ids = [i for i, _ in added]
    with uow:
        assert uow.outbox.pending("audit") == added
        assert uow.outbox.pending("live") == added
        assert uow.outbox.pending("nobody") == []
        # audit took them; live failed and waits until t=500
        uow.outbox.mark_delivered("audit", ids)
        uow.outbox.mark_failed("live", ids, "redis down", next_attempt_at=500.0)
        uow.commit()
    with uow:
        assert uow.outbox.pending("audit") == []
        assert uow.outbox.pending("live", now=499.0) == []
        assert uow.outbox.pending("live", now=500.0) == added
        assert uow.outbox.pending("live", limit=1) == added[:1]
        assert uow.outbox.pending_count("live") == 3
        assert uow.outbox.purge_delivered(older_than=1000.0) == 0  # live still needs them
        uow.outbox.mark_delivered("live", ids[:2])
        uow.commit()
    with uow:
        assert uow.outbox.purge_delivered(older_than=50.0) == 0  # too recent
        assert uow.outbox.purge_delivered(older_than=1000.0) == 2
        uow.commit()
    with uow:
        assert uow.outbox.pending("live") == added[2:]


def test_rolled_back_events_are_not_pending(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.outbox.add(EVENTS, ["audit"], now=1.0)  # no commit: the state change failed
    with uow:
        assert uow.outbox.pending("audit") == []


def test_audit_lines_are_readable_and_logged_once_per_outbox_id(uow: SqlUnitOfWork) -> None:
    with uow:
        added = uow.outbox.add(EVENTS, ["audit"], now=1.0)
        uow.audit.add_many(added)
        uow.audit.add_many(added)  # redelivered
        uow.audit.add(added[0][0], EVENTS[0])
        uow.audit.add(None, AgentError("h1", 13.0, "protocol", "bad", "Host.getStats"))  # not from the outbox
        uow.commit()
    with uow:
        lines = uow.audit.recent(limit=10)
        assert len(lines) == 4
        assert lines[-1].message == "Host h1 status changed from Unassigned to Up"
        down = next(line for line in lines if line.event_type == "VmDown")
        assert down.vm_id == "vm-1" and down.host_id == "h1" and down.severity == "error"  # an error exit
        assert down.message == EVENTS[1].describe() and "qemu died" in down.message
        assert [x.event_type for x in uow.audit.recent(host_id="h2")] == ["AgentError"]
        first = lines[-1].id
        assert [x.id for x in uow.audit.after(first, limit=2)] == [lines[-2].id, lines[-3].id]
        assert uow.audit.after(lines[0].id) == []


def test_commands_once_per_key_then_done_or_failed(uow: SqlUnitOfWork) -> None:
    a, b = DestroyVm("h1", "vm-1", "down recorded"), DestroyVm("h1", "vm-2", "leftover")
    with uow:
        keys = uow.commands.add([(a, "h1:100"), (b, "h1:7")], now=10.0)
        uow.commands.add([(a, "h1:100")], now=11.0)  # the same record asks again
        uow.commit()
    with uow:
        assert uow.commands.due(now=9.0) == []
        due = uow.commands.due(now=10.0)
        assert [d.command for d in due] == [a, b] and [d.key for d in due] == keys
        uow.commands.mark_done(keys[0])
        uow.commands.mark_failed(keys[1], "connection refused", next_attempt_at=20.0)
        uow.commit()
    with uow:
        assert uow.commands.due(now=19.0) == []
        (retry,) = uow.commands.due(now=20.0)
        assert retry.command == b and retry.attempts == 1
        uow.commands.mark_failed(keys[1], "still refused", next_attempt_at=None)  # give up
        uow.commit()
    with uow:
        assert uow.commands.due(now=1e9) == []
        assert uow.commands.state(keys[0]) == "done" and uow.commands.state(keys[1]) == "failed"
        assert len(uow.commands.list_commands(host_id="h1")) == 2


def test_a_repeat_of_a_recent_command_for_the_same_target_is_ignored(uow: SqlUnitOfWork) -> None:
    leftover = DestroyVm("h1", "vm-1", "leftover")
    with uow:
        (first,) = uow.commands.add([(leftover, "h2:100")], now=10.0)
        assert uow.commands.add([(leftover, "h2:105")], now=11.0) == []  # still pending
        uow.commands.mark_done(first)
        uow.commit()
    with uow:
        # Done 2 s ago: a report fetched before the destroy still shows the record.
        assert uow.commands.add([(leftover, "h2:110")], now=12.0) == []
        # Another VM, or much later, is a new command.
        assert len(uow.commands.add([(DestroyVm("h1", "vm-2", "leftover"), "h2:110")], now=12.0)) == 1
        assert len(uow.commands.add([(leftover, "h2:900")], now=10.0 + 31)) == 1
        uow.commit()


def test_two_senders_never_claim_the_same_command(uow: SqlUnitOfWork) -> None:
    with uow:
        uow.commands.add([(DestroyVm("h1", f"vm-{i}", "down recorded"), "x") for i in range(5)], now=10.0)
        uow.commit()
    with uow:
        first = uow.commands.claim(now=10.0, lease=60.0)
        uow.commit()
    with uow:
        assert uow.commands.claim(now=10.0, lease=60.0) == []  # all leased to the first sender
        assert len(uow.commands.claim(now=71.0, lease=60.0)) == 5  # the first sender died: lease over
        uow.commit()
    assert len(first) == 5
