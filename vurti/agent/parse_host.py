"""Host.getStats and Host.getCapabilities replies -> HostStats, HostCapabilities (pure).

Same failure policy as parse.py: a result that is not an object is InvalidData;
a bad field falls back to its default with one warning naming the fields.
"""

from __future__ import annotations

from typing import Any

from vurti.agent.convert import devices, get_dict, get_float, get_int, get_str, nic_stats, to_int
from vurti.agent.errors import InvalidData
from vurti.domain.report import HostCapabilities, HostStats


def _boot_time(d: dict[str, Any], bad: list[str]) -> str | None:
    v = d.get("bootTime")
    if v is None:
        return None
    if type(v) is str:
        return v.strip()
    i = to_int(v)
    if i is None:
        bad.append("bootTime")
        return None
    return str(i)


def parse_host_stats(result: object, warnings: list[str] | None = None) -> HostStats:
    """Host.getStats: CPU and load as strings, memory ints (MiB), NICs by name."""
    if type(result) is not dict:
        raise InvalidData(f"Host.getStats result is {type(result).__name__}, expected an object")
    d: dict[str, Any] = result
    bad: list[str] = []
    stats = HostStats(
        cpu_user=get_float(d, "cpuUser", bad),
        cpu_sys=get_float(d, "cpuSys", bad),
        cpu_idle=get_float(d, "cpuIdle", bad, 100.0),
        cpu_load=get_float(d, "cpuLoad", bad),
        mem_free=get_int(d, "memFree", bad),
        mem_used=get_int(d, "memUsed", bad),
        mem_shared=get_int(d, "memShared", bad),
        swap_free=get_int(d, "swapFree", bad),
        swap_total=get_int(d, "swapTotal", bad),
        vm_count=get_int(d, "vmCount", bad),
        vm_active=get_int(d, "vmActive", bad),
        vm_migrating=get_int(d, "vmMigrating", bad),
        elapsed_time=get_float(d, "elapsedTime", bad),
        boot_time=_boot_time(d, bad),
        nics=devices(get_dict(d, "network", bad), "network", bad, nic_stats),
        disks_free=_disks_free(get_dict(d, "diskStats", bad), bad),
    )
    if bad and warnings is not None:
        warnings.append(f"host stats: ignored invalid {', '.join(bad)}")
    return stats


def _disks_free(raw: dict[str, Any] | None, bad: list[str]) -> tuple[tuple[str, int], ...]:
    """diskStats: {path: {"free": "MB"}}; a path without a usable figure is left out (unknown)."""
    out = []
    for path, rec in (raw or {}).items():
        free = to_int(rec.get("free")) if type(rec) is dict else None
        if free is None:
            bad.append(f"diskStats.{path}")
            continue
        out.append((path, free))
    return tuple(sorted(out))


def _base_nic(name: str) -> str:
    """A VLAN device's underlying NIC (eno2.100 -> eno2), as oVirt's stripVlan."""
    base, dot, vlan = name.rpartition(".")
    return base if dot and vlan.isdigit() else name


def _network_nics(raw: object, bad: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each network's NICs from capabilities' `networks`: its `southbound` device, else the
    bridgeless `interface`, else the bridge's `ports` (VMs' vnet taps left out), VLANs stripped."""
    if type(raw) is not dict:  # absent, or a list of names (no NICs to tell): `_names` judges it
        return ()
    out = []
    for network, rec in raw.items():
        if type(rec) is not dict:
            bad.append(f"networks.{network}")
            continue
        devices_: list[str] = []
        for key in ("southbound", "interface"):
            v = rec.get(key)
            if type(v) is str and v:
                devices_ = [v]
                break
        else:
            ports = rec.get("ports")
            if type(ports) is list:
                devices_ = [p for p in ports if type(p) is str and p and not p.startswith("vnet")]
        out.append((network, tuple(sorted({_base_nic(n) for n in devices_}))))
    return tuple(sorted(out))


def _selinux_mode(raw: object, bad: list[str]) -> int | None:
    """`selinux: {"mode": "1"}` (1 enforcing, 0 permissive, -1 disabled)."""
    if raw is None:
        return None
    mode = to_int(raw.get("mode")) if type(raw) is dict else None
    if mode is None:
        bad.append("selinux")
    return mode


def _bond_slaves(raw: object, bad: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """capabilities' `bondings`: {bond: {"slaves": [nic, ...]}}."""
    if raw is None:
        return ()
    if type(raw) is not dict:
        bad.append("bondings")
        return ()
    out = []
    for bond, rec in raw.items():
        slaves = rec.get("slaves") if type(rec) is dict else None
        if type(slaves) is not list or not all(type(n) is str for n in slaves):
            bad.append(f"bondings.{bond}")
            continue
        out.append((bond, tuple(sorted(slaves))))
    return tuple(sorted(out))


def _names(d: dict[str, Any], key: str, bad: list[str], split: bool) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if split and type(v) is str:
        return tuple(part for part in (p.strip() for p in v.split(",")) if part)
    if type(v) is dict:
        return tuple(v)
    if type(v) is list and all(type(x) is str for x in v):
        return tuple(v)
    bad.append(key)
    return ()


def _flag(d: dict[str, Any], key: str, bad: list[str], default: bool) -> bool:
    v = d.get(key)
    if v is None:
        return default
    if type(v) is bool:
        return v
    if type(v) is str and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    bad.append(key)
    return default


def parse_capabilities(result: object, warnings: list[str] | None = None) -> HostCapabilities:
    """Host.getCapabilities: what the cluster checks need (CPU, networks, versions)."""
    if type(result) is not dict:
        raise InvalidData(f"Host.getCapabilities result is {type(result).__name__}, expected an object")
    d: dict[str, Any] = result
    bad: list[str] = []
    caps = HostCapabilities(
        cpu_model=get_str(d, "cpuModel", bad) or "",
        cpu_flags=_names(d, "cpuFlags", bad, split=True),
        cpu_cores=get_int(d, "cpuCores", bad),
        cpu_sockets=get_int(d, "cpuSockets", bad),
        mem_size_mb=get_int(d, "memSize", bad),
        networks=_names(d, "networks", bad, split=False),
        vdsm_version=get_str(d, "software_version", bad) or "",
        kvm_enabled=_flag(d, "kvmEnabled", bad, True),
        host_uuid=get_str(d, "uuid", bad) or "",
        rng_sources=_names(d, "rngSources", bad, split=False),
        selinux_mode=_selinux_mode(d.get("selinux"), bad),
        network_nics=_network_nics(d.get("networks"), bad),
        bond_slaves=_bond_slaves(d.get("bondings"), bad),
    )
    if bad and warnings is not None:
        warnings.append(f"capabilities: ignored invalid {', '.join(bad)}")
    return caps
