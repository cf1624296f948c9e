"""A simulated VM's devices, their `hash`, and its block jobs.

The devices, in the form of VDSM 4.30's Host.getVMFullList `devices` (sim/domxml.py
renders the same list as the domain XML of Host.dumpxmls), follow from the VM's size and seed,
plus what was hot-plugged and minus what was unplugged; the `hash` in its
statistics is a digest of that list (VDSM: a hash of the domain's devices), so it
changes exactly when the list does. Block jobs (`vmJobs`) live on the record of
the host that runs them, with `cur`/`end` as strings (livemerge.py).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from vurti.sim.fleet import Record, VmSpec

_NS = uuid.UUID("8d3f5f0e-3f0e-4c59-9a43-2f1e8f6b7a10")


def device_id(spec: VmSpec, what: str) -> str:
    return str(uuid.uuid5(_NS, f"{spec.vm_id}/{what}"))


def mac_of(dev_id: str) -> str:
    """A NIC's MAC address in oVirt's default pool (56:6f:...), from its device id."""
    raw = uuid.UUID(dev_id).bytes
    return "56:6f:" + ":".join(f"{b:02x}" for b in raw[:4])


def _pci(slot: int) -> dict[str, str]:
    return {"type": "pci", "domain": "0x0000", "bus": "0x00", "slot": f"0x{slot:02x}", "function": "0x0"}


def base_devices(spec: VmSpec) -> list[dict[str, Any]]:
    """What the VM starts with: disks, NICs, a balloon, an unmanaged virtio-serial, a display."""
    out: list[dict[str, Any]] = []
    for d in range(spec.ndisks):
        dev_id = device_id(spec, f"disk{d}")
        out.append({"type": "disk", "device": "disk", "deviceId": dev_id, "alias": f"ua-{dev_id}",
                    "address": {"type": "drive", "bus": "0", "controller": "0", "target": "0", "unit": str(d)},
                    "readonly": "False", "specParams": {}})
    for n in range(spec.nnics):
        dev_id = device_id(spec, f"nic{n}")
        out.append({"type": "interface", "device": "bridge", "deviceId": dev_id, "alias": f"ua-{dev_id}",
                    "address": _pci(3 + n), "network": "ovirtmgmt", "macAddr": mac_of(dev_id), "specParams": {}})
    out.append({"type": "balloon", "device": "memballoon", "deviceId": device_id(spec, "balloon"),
                "alias": "balloon0", "address": _pci(8), "specParams": {"model": "virtio"}})
    out.append({"type": "controller", "device": "virtio-serial", "alias": "virtio-serial0", "address": _pci(9)})
    out.append({"type": "graphics", "device": "vnc", "deviceId": device_id(spec, "vnc"), "specParams": {}})
    return out


def devices(spec: VmSpec) -> tuple[list[dict[str, Any]], str]:
    """The VM's devices now and their hash (a signed 64-bit number as a string, as VDSM sends it)."""
    generation = (len(spec.plugged), frozenset(spec.unplugged))
    cached = spec.dev_cache
    if cached is not None and cached[0] == generation:
        return cached[1], cached[2]
    listed = [d for d in base_devices(spec) + spec.plugged if d.get("deviceId") not in spec.unplugged]
    digest = hashlib.blake2b(orjson.dumps(listed, option=orjson.OPT_SORT_KEYS), digest_size=8).digest()
    value = str(int.from_bytes(digest, "big", signed=True))
    spec.dev_cache = (generation, listed, value)
    return listed, value


def hotplug(spec: VmSpec, kind: str) -> dict[str, Any]:
    """A managed disk or NIC plugged into the running VM; returns the device."""
    n = len(spec.plugged)
    dev_id = device_id(spec, f"plugged{n}")
    if kind == "disk":
        device = {"type": "disk", "device": "disk", "deviceId": dev_id, "alias": f"ua-{dev_id}",
                  "address": {"type": "drive", "bus": "0", "controller": "0", "target": "0", "unit": str(10 + n)},
                  "readonly": "False", "specParams": {}}
    elif kind == "nic":
        device = {"type": "interface", "device": "bridge", "deviceId": dev_id, "alias": f"ua-{dev_id}",
                  "address": _pci(16 + n), "network": "ovirtmgmt", "macAddr": mac_of(dev_id), "specParams": {}}
    else:
        raise ValueError(f"cannot hot-plug a {kind!r} (disk or nic)")
    spec.plugged.append(device)
    return device


def unplug(spec: VmSpec, dev_id: str) -> None:
    listed, _ = devices(spec)
    if not any(d.get("deviceId") == dev_id for d in listed):
        raise ValueError(f"VM {spec.vm_id} has no plugged device {dev_id}")
    spec.unplugged.add(dev_id)


def full_row(rec: Record, status: str, status_time: Any) -> dict[str, Any]:
    """A legacy host's Host.getVMFullList row (VDSM 4.30: the VM's configuration with its devices)."""
    spec = rec.spec
    listed, _ = devices(spec)
    return {"vmId": spec.vm_id, "vmName": spec.name, "status": status, "statusTime": status_time,
            "memSize": spec.mem_mb, "smp": str(spec.ncpu), "vmType": "kvm", "kvmEnable": "true",
            "devices": listed}


def vm_jobs(rec: Record) -> dict[str, dict[str, Any]]:
    return {job_id: dict(job) for job_id, job in rec.jobs.items()}
