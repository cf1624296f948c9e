"""oVirt's event flood regulator (EventFloodRegulator, AuditLogType's floodRate): an alert of one
type about one host (and one NIC, or one set of disks) is raised at most once per its rate.

oVirt keeps the last times in a memory cache; here they are stored with the host
(`HostState.alerts_sent`), so the rule stays pure and holds across workers.
"""

from __future__ import annotations

MINUTE = 60.0

# Seconds between two alerts of one kind about one host (AuditLogType, engine master).
FLOOD_RATES: dict[str, float] = {
    "cpu": 30 * MINUTE,  # VDS_HIGH_CPU_USE
    "memory": 30 * MINUTE,  # VDS_HIGH_MEM_USE
    "low_memory": 30 * MINUTE,  # VDS_LOW_MEM
    "swap": 30 * MINUTE,  # VDS_HIGH_SWAP_USE
    "low_swap": 24 * 60 * MINUTE,  # VDS_LOW_SWAP
    "network": 30 * MINUTE,  # HOST_INTERFACE_HIGH_NETWORK_USE, per NIC
    "disk_low": 60 * MINUTE,  # VDS_LOW_DISK_SPACE
    "disk_critical": 15 * MINUTE,  # VDS_LOW_DISK_SPACE_ERROR
    "selinux": 60 * MINUTE,  # VDS_NO_SELINUX_ENFORCEMENT
}


def alert_key(alert: str, subject: str = "") -> str:
    return f"{alert}:{subject}" if subject else alert


def regulate(
    sent: tuple[tuple[str, float], ...], wanted: list[str], now: float
) -> tuple[list[str], tuple[tuple[str, float], ...]]:
    """The alert keys of `wanted` that may be raised now, and the remembered times after raising them.

    Entries whose rate has run out are forgotten, so the memory holds only alerts still throttling.
    """
    live = {key: at for key, at in sent if now < at + _rate(key)}
    allowed = [key for key in wanted if key not in live]
    for key in allowed:
        live[key] = now
    remembered = tuple(sorted(live.items()))
    return allowed, remembered if remembered != sent else sent


def _rate(key: str) -> float:
    return FLOOD_RATES.get(key.partition(":")[0], 0.0)
