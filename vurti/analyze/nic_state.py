"""Which NICs under a required network are not up (NetworkMonitoringHelper): pure helpers
shared by the Up host's NIC check and the re-check of a NonOperational host."""

from __future__ import annotations

from collections.abc import Mapping

from vurti.domain.model import Cluster


def down_required_nics(
    cluster: Cluster, network_nics: tuple[tuple[str, tuple[str, ...]], ...], states: Mapping[str, str]
) -> dict[str, list[str]]:
    """NIC -> the required networks it carries, for each such NIC the report shows not up.

    A NIC the report does not list is not judged (oVirt compares only the interfaces it knows).
    """
    required = set(cluster.required_networks)
    down: dict[str, list[str]] = {}
    for network, nics in network_nics:
        if network not in required:
            continue
        for nic in nics:
            state = states.get(nic)
            if state is not None and state != "up":
                down.setdefault(nic, []).append(network)
    return down


def nics_down_reason(down: Mapping[str, list[str]]) -> str:
    """oVirt's NETWORK_INTERFACE_IS_DOWN reason, with each NIC and its networks."""
    nics = ", ".join(f"{nic} ({', '.join(sorted(networks))})" for nic, networks in sorted(down.items()))
    return f"network interfaces of required networks are down: {nics}"
