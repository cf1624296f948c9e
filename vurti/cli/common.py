"""What every CLI command shares: settings, services, and table/JSON output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson

from vurti.bootstrap import Services, services
from vurti.config import ConfigError


class CliError(click.ClickException):
    """A command that cannot be done: one line on stderr, exit status 2, nothing written."""

    exit_code = 2


def get_services() -> Services:
    try:
        return services()
    except ConfigError as exc:
        raise CliError(f"bad configuration: {exc}") from None


def host_id_option(svc: Services, host: str | None) -> str | None:
    """The id of a --host option given by name or id (None when not given)."""
    if host is None:
        return None
    found = svc.resolve_host(host)
    if found is None:
        raise CliError(f"no such host: {host}")
    return str(found.id)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str | None = None) -> None:
    """A table for people, or a JSON list for scripts."""
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
