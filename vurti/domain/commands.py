"""Commands the engine sends back to a host agent, asked for by the analyzers.

The pipeline carries them out after the state change that asked for them is
committed; the analyzer never performs I/O itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class DestroyVm:
    """VM.destroy on `host_id`, so the host stops reporting a Down record."""

    host_id: str
    vm_id: str
    reason: str  # e.g. "down recorded", "migration source leftover"

    @property
    def key(self) -> str:
        """Identity for once-per-record delivery."""
        return f"destroy:{self.host_id}:{self.vm_id}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data


Command = DestroyVm
