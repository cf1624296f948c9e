"""What every CLI command shares: settings, services, and table/JSON output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson

from vurti.bootstrap import Services, services
from vurti.config import ConfigError


def get_services() -> Services:
    try:
        return services()
    except ConfigError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str | None = None) -> None:
    """A table for people, or JSON lines-free JSON for scripts."""
    if as_json:
        sys.stdout.write(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)
