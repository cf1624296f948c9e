"""How a VmState is split between vm_static (administrator's configuration) and vm_dynamic.

Every field not listed as static is dynamic, so a field added to VmState lands in
vm_dynamic unless it is added to STATIC_FIELDS.
"""

from __future__ import annotations

from typing import Any

from vurti.domain.model import VmState
from vurti.store.codec import Codec
from vurti.store.tables import vm_dynamic, vm_static

STATIC_FIELDS = frozenset({"name", "managed", "auto_start", "lease_sd_id"})
VM = Codec(VmState, {"host_id": "run_on_host"})
STATIC_COLUMNS = frozenset(VM.column(f) for f in STATIC_FIELDS)
KEY = "vm_id"


def vm_columns() -> list[Any]:
    """The columns to select (vm_static joined to vm_dynamic) to rebuild a VmState."""
    return [
        vm_static.c[col] if col in STATIC_COLUMNS or col == KEY else vm_dynamic.c[col] for col in VM.columns.values()
    ]


def split(columns: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column values -> (vm_static part, vm_dynamic part), without the key."""
    static = {c: v for c, v in columns.items() if c in STATIC_COLUMNS}
    dynamic = {c: v for c, v in columns.items() if c not in STATIC_COLUMNS and c != KEY}
    return static, dynamic
