"""Write a running simulated fleet's hosts into vurti's database, so the engine monitors them."""

from __future__ import annotations

from typing import Any

from vurti.inventory import NewHost, add_hosts
from vurti.sim.control_client import ControlClient


def register_fleet(svc: Any, sim_url: str, token: str | None = None) -> int:
    """Add every host the simulator at `sim_url` serves (already known hosts are kept); return how many were added."""
    base = sim_url.rstrip("/")
    hosts = ControlClient(base, token).hosts()
    new = [NewHost(h["name"], f"{base}{h['path']}", h.get("cluster") or "default") for h in hosts]
    return len(add_hosts(svc, new, skip_existing=True))
