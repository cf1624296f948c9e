"""Commands to send to host agents after commit (VM.destroy), each carried out once.

A command is recorded in the update's transaction under a key made of the
command's own key and a once-suffix naming the record that asked for it (e.g. the
VM's statusTime on that host), with a UNIQUE constraint: the same analysis applied
twice records it once, while a later Down of the same VM asks again. A sender
takes due commands, sends them, and marks each done or failed (with a retry time,
or none to give up).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from vurti.domain.commands import Command, DestroyVm
from vurti.store.sqlutil import chunked, insert_for
from vurti.store.tables import host_commands

COMMAND_TYPES: dict[str, type[Any]] = {"DestroyVm": DestroyVm}
PENDING, DONE, FAILED = "pending", "done", "failed"
# A command for the same target within this many seconds of one pending or done is a
# repeat: a report fetched just before a destroy and applied just after it still shows
# the record it destroyed.
REPEAT_WINDOW = 30.0


def command_key(command: Command, once: str) -> str:
    return f"{command.key}@{once}"


@dataclass(frozen=True)
class PendingCommand:
    key: str
    command: Command
    attempts: int


class CommandRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, items: Sequence[tuple[Command, str]], now: float) -> list[str]:
        """Record (command, once-suffix) pairs due at `now`; return the keys recorded.

        Ignored: keys already recorded, and repeats of a command for the same target
        (same `command.key`) that is pending, or was created within REPEAT_WINDOW.
        """
        if not items:
            return []
        recent = self._recent_targets({command.key for command, _ in items}, now)
        rows = {}
        for command, once in items:
            if command.key in recent:
                continue
            key = command_key(command, once)
            rows[key] = {
                "key": key,
                "host_id": command.host_id,
                "kind": type(command).__name__,
                "payload": command.to_json(),
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        if not rows:
            return []
        stmt = insert_for(self._conn, host_commands).on_conflict_do_nothing(index_elements=["key"])
        self._conn.execute(stmt, list(rows.values()))
        return list(rows)

    def _recent_targets(self, targets: set[str], now: float) -> set[str]:
        """Targets with a pending command, or one created within REPEAT_WINDOW (both small, indexed sets)."""
        c = host_commands.c
        found: set[str] = set()
        ours = or_(*(c.key.startswith(f"{t}@", autoescape=True) for t in targets))
        recent = select(c.key).where(c.created_at > now - REPEAT_WINDOW, ours)  # ix_host_commands_created_at
        pending = select(c.key).where(c.state == PENDING, ours)  # ix_host_commands_state_next_attempt_at
        for (key,) in self._conn.execute(recent.union(pending)):
            found.add(key.split("@", 1)[0])
        return found

    def claim(self, now: float, lease: float, limit: int = 100, host_id: str | None = None) -> list[PendingCommand]:
        """Take due commands for sending: each is moved `lease` seconds ahead so no other sender
        takes it meanwhile. A conditional UPDATE per command decides, so two senders never both win."""
        claimed = []
        for pending in self.due(now, limit, host_id):
            result = self._conn.execute(
                update(host_commands)
                .where(host_commands.c.key == pending.key, host_commands.c.state == PENDING,
                       host_commands.c.next_attempt_at <= now)
                .values(next_attempt_at=now + lease)
            )
            if result.rowcount == 1:
                claimed.append(pending)
        return claimed

    def release(self, keys: Iterable[str], now: float) -> None:
        """Give claimed commands back unsent: due again at `now` (for the next sweep)."""
        for part in chunked(sorted(set(keys))):
            self._conn.execute(
                update(host_commands)
                .where(host_commands.c.key.in_(part), host_commands.c.state == PENDING)
                .values(next_attempt_at=now)
            )

    def due(self, now: float, limit: int = 100, host_id: str | None = None) -> list[PendingCommand]:
        """Pending commands whose time has come, oldest first (locked with SKIP LOCKED on PostgreSQL)."""
        stmt = (
            select(host_commands.c.key, host_commands.c.kind, host_commands.c.payload, host_commands.c.attempts)
            .where(host_commands.c.state == PENDING, host_commands.c.next_attempt_at <= now)
            .order_by(host_commands.c.next_attempt_at, host_commands.c.id)
            .limit(limit)
        )
        if host_id is not None:
            stmt = stmt.where(host_commands.c.host_id == host_id)
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return [
            PendingCommand(row.key, msgspec.convert(row.payload, COMMAND_TYPES[row.kind]), int(row.attempts))
            for row in self._conn.execute(stmt)
        ]

    def state(self, key: str) -> str | None:
        return self._conn.execute(select(host_commands.c.state).where(host_commands.c.key == key)).scalar()

    def mark_done(self, key: str) -> None:
        self._set(key, state=DONE, attempts=host_commands.c.attempts + 1, last_error=None)

    def mark_failed(self, key: str, error: str, next_attempt_at: float | None) -> None:
        """Count a failed attempt; retry at `next_attempt_at`, or give up when it is None."""
        values: dict[str, Any] = {"attempts": host_commands.c.attempts + 1, "last_error": error[:2000]}
        if next_attempt_at is None:
            values["state"] = FAILED
        else:
            values["next_attempt_at"] = next_attempt_at
        self._set(key, **values)

    def _set(self, key: str, **values: Any) -> None:
        self._conn.execute(update(host_commands).where(host_commands.c.key == key).values(**values))

    def list_commands(
        self, host_id: str | None = None, states: Iterable[str] = (PENDING, DONE, FAILED)
    ) -> list[PendingCommand]:
        stmt = select(host_commands).where(host_commands.c.state.in_(list(states))).order_by(host_commands.c.id)
        if host_id is not None:
            stmt = stmt.where(host_commands.c.host_id == host_id)
        return [
            PendingCommand(row.key, msgspec.convert(row.payload, COMMAND_TYPES[row.kind]), int(row.attempts))
            for row in self._conn.execute(stmt)
        ]
