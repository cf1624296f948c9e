"""Generic mapping between domain dataclasses and table rows, by field name.

A column carries the field's name unless renamed (VmState.host_id is stored as
vm_dynamic.run_on_host). Values go to the DB as builtins (enums as their int
code, tuples and nested dataclasses as JSON lists/objects) and come back through
msgspec, which rebuilds enums, tuples and nested dataclasses from the field types.
A field added to a dataclass therefore needs only a column and a migration;
tests/store/test_schema.py fails when a field has no column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from vurti.domain.model import field_names

T = TypeVar("T")


class Codec(Generic[T]):
    def __init__(self, cls: type[T], renames: Mapping[str, str] | None = None, only: Iterable[str] | None = None):
        """`only` restricts the codec to some fields (a dataclass split over two tables)."""
        self.cls = cls
        names = list(field_names(cls))
        if only is not None:
            wanted = set(only)
            names = [n for n in names if n in wanted]
        renames = renames or {}
        self.columns: dict[str, str] = {n: renames.get(n, n) for n in names}

    def column(self, field_name: str) -> str:
        return self.columns[field_name]

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Field values (e.g. from changed_fields) -> column values, restricted to this codec's fields."""
        cols = self.columns
        return {cols[k]: msgspec.to_builtins(v) for k, v in values.items() if k in cols}

    def to_row(self, obj: T) -> dict[str, Any]:
        """Every column, defaults included (the report's Structs leave defaults out of their JSON)."""
        return {col: msgspec.to_builtins(getattr(obj, name)) for name, col in self.columns.items()}

    def fields_of(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        return {name: row[col] for name, col in self.columns.items()}

    def from_row(self, row: Mapping[Any, Any]) -> T:
        return msgspec.convert(self.fields_of(row), self.cls)


def build(cls: type[T], data: Mapping[str, Any]) -> T:
    """A dataclass from builtins (several codecs' fields merged)."""
    return msgspec.convert(dict(data), cls)
