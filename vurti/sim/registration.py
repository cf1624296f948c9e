"""Write a running simulated fleet's hosts into vurti's database, so the engine monitors them."""

from __future__ import annotations

from typing import Any

from vurti.inventory import NewHost, add_hosts
from vurti.sim.control_client import ControlClient


def fleet_hosts(sim_url: str, token: str | None = None) -> list[NewHost]:
    """The hosts the simulator at `sim_url` serves, as vurti inventory entries (their agent addresses)."""
    base = sim_url.rstrip("/")
    return [
        NewHost(h["name"], h["address"], f"sim-cluster-{h.get('cluster', 0)}")
        for h in ControlClient(base, token).hosts()
    ]


def register_fleet(svc: Any, sim_url: str, token: str | None = None) -> int:
    """Add every simulated host (already known hosts are kept); return how many were added."""
    return len(add_hosts(svc, fleet_hosts(sim_url, token), skip_existing=True))
