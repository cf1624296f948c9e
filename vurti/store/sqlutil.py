"""Small SQL helpers shared by the repositories: dialect-specific upserts and chunking."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
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
