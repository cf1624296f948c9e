"""Count the SQL statements an engine sends, for tests and benchmarks.

Counts cursor executions: an executemany (or one batch of a multi-row INSERT) is
one, as it is one round trip to the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Statement:
    sql: str
    many: bool
    rows: int

    @property
    def verb(self) -> str:
        return self.sql.lstrip().split(None, 1)[0].upper() if self.sql.strip() else ""


@dataclass
class StatementCounter:
    """`with StatementCounter(engine) as sql: ...` then `sql.count`, `sql.statements`."""

    engine: Engine
    statements: list[Statement] = field(default_factory=list)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        rows = len(parameters) if many and parameters is not None else 1
        self.statements.append(Statement(statement, many, rows))

    def __enter__(self) -> Self:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()

    def of(self, verb: str) -> list[Statement]:
        """Statements starting with `verb` (SELECT, INSERT, UPDATE, DELETE)."""
        return [s for s in self.statements if s.verb == verb.upper()]
