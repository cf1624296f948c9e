"""Small SQL helpers shared by the repositories: dialect-specific upserts, chunking, and the
bulk writer of the hot path (statements compiled once, rows handed to the driver as they are)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import JSON, Table
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

# Well under SQLite's and PostgreSQL's limits on bound parameters per statement.
CHUNK = 5000


def chunked(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_for(connection: Connection, table: Table) -> Any:
    """The dialect's INSERT construct, which knows ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: bool = True,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other column (or DO NOTHING), in one executemany.

    All rows must carry the same columns.
    """
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c not in keys) if update else None
    connection.execute(_upsert_statement(connection.dialect.name, table, tuple(keys), columns), list(rows))


@lru_cache(maxsize=256)
def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...] | None) -> Any:
    """Built once per shape: constructing ON CONFLICT clauses costs more than running them."""
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        stmt = postgresql_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    if columns is None:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})


class BulkStatement:
    """A statement for many rows in one driver executemany, its SQL compiled once per dialect.

    SQLAlchemy's executemany processes each row's parameters (a dict per row, a JSON dump
    per JSON column, type processors); on a statistics cycle that was most of the cost of
    writing VM rows. Here each row is a tuple in the order of `names` (the statement's bind
    names), JSON columns already encoded (`encode_json`); values must be what the driver
    takes as they are: str, int, float, bool, None.
    """

    def __init__(self, build: Callable[[str], Any], names: Sequence[str]) -> None:
        self._build = build  # dialect name -> the statement, its binds named as in `names`
        self.names = tuple(names)
        self._compiled: dict[str, tuple[str, tuple[int, ...] | None]] = {}

    def execute(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        sql, order = self._statement(connection)
        if order is None:  # named parameters (psycopg's pyformat)
            params: list[Any] = [dict(zip(self.names, row, strict=True)) for row in rows]
        elif order == tuple(range(len(self.names))):
            params = list(rows)
        else:
            params = [tuple(row[i] for i in order) for row in rows]
        connection.exec_driver_sql(sql, params)

    def _statement(self, connection: Connection) -> tuple[str, tuple[int, ...] | None]:
        dialect = connection.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._build(dialect.name).compile(dialect=dialect, column_keys=list(self.names))
            if compiled.positional:
                index = {name: i for i, name in enumerate(self.names)}
                found = (compiled.string, tuple(index[n] for n in compiled.positiontup or ()))
            else:
                found = (compiled.string, None)
            self._compiled[dialect.name] = found
        return found


def bulk_upsert(table: Table, keys: Sequence[str], columns: Sequence[str]) -> BulkStatement:
    """INSERT ... ON CONFLICT (keys) DO UPDATE the other `columns`; rows carry `columns` (keys included)."""
    updated = tuple(c for c in columns if c not in keys)
    return BulkStatement(lambda dialect: _upsert_statement(dialect, table, tuple(keys), updated), columns)


def json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.c if isinstance(c.type, JSON))


_JSON = msgspec.json.Encoder()


def encode_json(value: Any) -> str:
    """A JSON column's value as the driver takes it (dataclasses and tuples encoded directly)."""
    return _JSON.encode(value).decode()
