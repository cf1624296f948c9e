"""A simulated host's own conditions, set through the control API: NIC states, usage
figures pushed over thresholds, capabilities changed while it runs.

`parse_*` validate a control body (ValueError says what is wrong); `stats_with` and
`capabilities_with` lay the conditions over what Host.getStats and
Host.getCapabilities would report, keeping VDSM's wire types (numbers as strings
where VDSM sends strings).
"""

from __future__ import annotations

from typing import Any

NIC_STATES = ("up", "down", "unknown")
PERCENT_KEYS = ("cpu", "mem_used")
MB_KEYS = ("swap_free", "disk_free")
CAPS_KEYS = {"kvm_enabled": "kvmEnabled", "cpu_flags": "cpuFlags", "rng_sources": "rngSources",
             "selinux_mode": "selinux"}


def parse_nic_state(body: dict[str, Any]) -> str:
    state = body.get("state")
    if state not in NIC_STATES:
        raise ValueError(f"state must be one of {', '.join(NIC_STATES)}")
    return str(state)


def _number(key: str, value: object, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (high is not None and value > high):
        limit = f"0..{high:g}" if high is not None else "a number >= 0"
        raise ValueError(f"{key} must be {limit}")
    return float(value)


def parse_usage(body: dict[str, Any]) -> dict[str, Any]:
    """cpu, mem_used (percent), swap_free, disk_free (MB), nic_load {nic: percent}; null removes one."""
    usage: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            usage[key] = None
        elif key in PERCENT_KEYS:
            usage[key] = _number(key, value, 100)
        elif key in MB_KEYS:
            usage[key] = int(_number(key, value, None))
        elif key == "nic_load":
            if not isinstance(value, dict):
                raise ValueError("nic_load must map NIC names to percentages")
            usage[key] = {str(nic): _number(f"nic_load.{nic}", pct, 100) for nic, pct in value.items()}
        else:
            raise ValueError(f"unknown usage {key!r} (cpu, mem_used, swap_free, disk_free, nic_load)")
    return usage


def parse_capabilities(body: dict[str, Any]) -> dict[str, Any]:
    """kvm_enabled (bool), cpu_flags (list: the flags reported), rng_sources (list), selinux_mode
    (1 enforcing, 0 permissive, -1 disabled); null restores one."""
    caps: dict[str, Any] = {}
    for key, value in body.items():
        if key not in CAPS_KEYS:
            raise ValueError(f"unknown capability {key!r} ({', '.join(CAPS_KEYS)})")
        if value is None:
            caps[key] = None
        elif key == "kvm_enabled":
            if not isinstance(value, bool):
                raise ValueError("kvm_enabled must be true or false")
            caps[key] = value
        elif key == "selinux_mode":
            if value not in (-1, 0, 1) or isinstance(value, bool):
                raise ValueError("selinux_mode must be -1, 0 or 1")
            caps[key] = value
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of names")
        else:
            caps[key] = list(value)
    return caps


def merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`current` with `changes` applied; a None value removes its key."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def stats_with(stats: dict[str, Any], nic_states: dict[str, str], usage: dict[str, Any], uptime: float,
               host_mem_mb: int) -> dict[str, Any]:
    """Host.getStats' reply with the host's NIC states and usage laid over it."""
    network = stats["network"]
    for nic, state in nic_states.items():
        if nic in network:
            network[nic]["state"] = state
    for nic, pct in usage.get("nic_load", {}).items():
        entry = network.get(nic)
        if entry is not None:  # bytes/s at pct of the NIC's speed (Mbps): the counters grow that fast
            rate = int(entry["speed"]) * 1_000_000 / 8 * pct / 100
            entry["rx"] = str(int(uptime * rate))
    cpu = usage.get("cpu")
    if cpu is not None:
        stats.update(cpuUser=f"{cpu * 0.9:.2f}", cpuSys=f"{cpu * 0.1:.2f}", cpuIdle=f"{100 - cpu:.2f}")
    mem = usage.get("mem_used")
    if mem is not None:
        free = int(host_mem_mb * (100 - mem) / 100)
        stats.update(memUsed=str(int(mem)), memFree=free, memAvailable=free)
    if "swap_free" in usage:
        stats["swapFree"] = min(usage["swap_free"], stats["swapTotal"])
    if "disk_free" in usage:
        stats["diskStats"] = {path: {"free": str(usage["disk_free"])} for path in stats["diskStats"]}
    return stats


def capabilities_with(caps: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """Host.getCapabilities' reply with the changed capabilities, as VDSM spells them."""
    for key, value in changed.items():
        if key == "kvm_enabled":
            caps["kvmEnabled"] = "true" if value else "false"
        elif key == "cpu_flags":
            caps["cpuFlags"] = ",".join(value)
        elif key == "selinux_mode":
            caps["selinux"] = {"mode": str(value)}
        else:
            caps[CAPS_KEYS[key]] = value
    return caps
