"""Redis command counts from INFO commandstats (parsed by redis-py or raw text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def command_calls(info: Mapping[str, Any]) -> dict[str, int]:
    """{command: calls} from `client.info("commandstats")` (keys `cmdstat_get` -> {"calls": n, ...})."""
    out = {}
    for key, value in info.items():
        if key.startswith("cmdstat_") and isinstance(value, Mapping):
            out[key[len("cmdstat_"):]] = int(value.get("calls", 0))
    return out


def parse_commandstats(text: str) -> dict[str, int]:
    """{command: calls} from the raw text of `INFO commandstats`."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("cmdstat_") or ":" not in line:
            continue
        name, fields = line.split(":", 1)
        for part in fields.split(","):
            if part.startswith("calls="):
                out[name[len("cmdstat_"):]] = int(part.split("=", 1)[1])
    return out


def diff(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Calls made between two snapshots, busiest first, zero rows dropped."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    return dict(sorted(((k, v) for k, v in delta.items() if v > 0), key=lambda kv: -kv[1]))
