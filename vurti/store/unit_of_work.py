"""The unit of work: one connection, one transaction, repositories that share it.

Repositories never commit; the unit of work commits when told to and rolls back
otherwise (on leaving the `with` block). The connection is taken from the pool
only when a repository is first used, so a block that decides there is nothing
to write costs no database round trip at all.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.engine import Connection, Engine

from vurti.store.audit import AuditLogRepository
from vurti.store.command_repository import CommandRepository
from vurti.store.operation_repository import OperationRepository
from vurti.store.outbox import OutboxRepository
from vurti.store.scope import Scope, ScopeGuard
from vurti.store.vds_repository import VdsRepository
from vurti.store.vm_repository import VmRepository


class UnitOfWork(Protocol):
    """What services need: repositories sharing one transaction, commit, rollback by default."""

    @property
    def hosts(self) -> VdsRepository: ...

    @property
    def vms(self) -> VmRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def commands(self) -> CommandRepository: ...

    @property
    def audit(self) -> AuditLogRepository: ...

    @property
    def operations(self) -> OperationRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class SqlUnitOfWork:
    """Reusable: each `with` block is its own transaction."""

    def __init__(self, engine: Engine, scope: Scope | None = None) -> None:
        self.engine = engine
        self.scope = scope or Scope()
        self._conn: Connection | None = None
        self._guard: ScopeGuard | None = None
        self._repos: dict[str, object] = {}

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("unit of work already in use")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        self._guard = None
        self._repos.clear()
        if conn is not None:
            try:
                conn.rollback()
            finally:
                conn.close()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
            self._guard = ScopeGuard(self._conn, self.scope)
        return self._conn

    def _repo(self, name: str) -> object:
        repo = self._repos.get(name)
        if repo is None:
            conn = self.connection
            guard = self._guard
            if name == "hosts":
                repo = VdsRepository(conn, self.scope, guard)
            elif name == "vms":
                repo = VmRepository(conn, self.scope, guard)
            elif name == "outbox":
                repo = OutboxRepository(conn)
            elif name == "commands":
                repo = CommandRepository(conn)
            elif name == "operations":
                repo = OperationRepository(conn)
            else:
                repo = AuditLogRepository(conn)
            self._repos[name] = repo
        return repo

    @property
    def hosts(self) -> VdsRepository:
        return self._repo("hosts")  # type: ignore[return-value]

    @property
    def vms(self) -> VmRepository:
        return self._repo("vms")  # type: ignore[return-value]

    @property
    def outbox(self) -> OutboxRepository:
        return self._repo("outbox")  # type: ignore[return-value]

    @property
    def commands(self) -> CommandRepository:
        return self._repo("commands")  # type: ignore[return-value]

    @property
    def audit(self) -> AuditLogRepository:
        return self._repo("audit")  # type: ignore[return-value]

    @property
    def operations(self) -> OperationRepository:
        return self._repo("operations")  # type: ignore[return-value]

    def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
