"""A VM's block jobs (`vmJobs` in its statistics) and devices (`devices` of VDSM 4.30's Host.getVMFullList).

Same failure policy as parse.py: a job or device that cannot be read is skipped
and named in `bad` (one warning per VM); a `vmJobs` or `devices` of the wrong
shape leaves the VM's jobs or devices unknown (None), never the poll failed.
`make_device` and `device_list` are the device rules both readers share (this one
and parse_domxml.py, for the domain XML of VDSM 4.40 and later).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from vurti.agent.convert import brief, to_int
from vurti.agent.errors import InvalidData
from vurti.domain.devices import VmDevice, VmJob

# Unmanaged devices (no engine deviceId) get an id derived from what names them in the domain.
_UNMANAGED = uuid.UUID("5c0f3a52-9a43-4b8e-a7d1-0d1f4a6c8e21")
_SHORT, _NAME = 64, 255  # vm_devices' type/device and alias columns (ids: 128)


def parse_jobs(e: dict[str, Any], bad: list[str]) -> tuple[VmJob, ...] | None:
    """vmJobs: a map job id -> job. Absent: unknown (oVirt keeps the jobs it knows)."""
    raw = e.get("vmJobs")
    if raw is None:
        return None
    if type(raw) is not dict:
        bad.append("vmJobs")
        return None
    if not raw:
        return ()  # the common case: no job
    jobs = []
    for key, job in raw.items():
        parsed = _job(key, job)
        if parsed is None:
            bad.append(f"vmJobs.{brief(key)}")
        else:
            jobs.append(parsed)
    return tuple(sorted(jobs, key=lambda j: j.job_id))


def _job(key: object, job: object) -> VmJob | None:
    if type(job) is not dict:
        return None
    job_id = job.get("id", key)
    if type(job_id) is not str or not job_id:
        return None
    cur, end, bandwidth = (to_int(job.get(k, 0)) for k in ("cur", "end", "bandwidth"))
    if cur is None or end is None or bandwidth is None:
        return None
    texts = [job.get(k) or "" for k in ("jobType", "blockJobType", "imgUUID")]
    if any(type(t) is not str for t in texts):
        return None
    return VmJob(job_id, texts[0] or "unknown", texts[1], texts[2], cur, end, bandwidth)


def parse_vm_devices(result: object, warnings: list[str] | None = None) -> dict[str, tuple[VmDevice, ...]]:
    """Host.getVMFullList rows -> VM id -> its devices. Rows without a usable `devices` list
    are left out (with a warning): those VMs' devices stay unknown."""
    if type(result) is not list:
        raise InvalidData(f"Host.getVMFullList result is {type(result).__name__}, expected a list of VMs")
    sink: list[str] = [] if warnings is None else warnings
    out: dict[str, tuple[VmDevice, ...]] = {}
    for row in result:
        vm_id = row.get("vmId") if type(row) is dict else None
        if type(vm_id) is not str or not vm_id:
            sink.append(f"skipped a full-list entry without a usable vmId: {brief(row)}")
            continue
        raw = row.get("devices")
        if type(raw) is not list:
            sink.append(f"vm {vm_id}: full list without a devices list ({brief(raw)}); devices not read")
            continue
        bad: list[str] = []
        devices: list[VmDevice | None] = []
        for i, entry in enumerate(raw):
            device = _device(vm_id, entry)
            if device is None:
                bad.append(f"devices[{i}]")
            devices.append(device)
        if bad:
            sink.append(f"vm {vm_id}: ignored invalid {', '.join(bad)}")
        out[vm_id] = device_list(devices)
    return out


def device_list(devices: list[VmDevice | None]) -> tuple[VmDevice, ...]:
    """A VM's devices as stored: those with an address (libvirt gives none to some devices, and
    oVirt skips them), one per id, sorted by id. Both device readers end here."""
    by_id: dict[str, VmDevice] = {}
    for device in devices:
        if device is not None and device.address:
            by_id.setdefault(device.device_id, device)
    return tuple(sorted(by_id.values(), key=lambda d: d.device_id))


def make_device(vm_id: str, kind: object, name: object, address: str | None, alias: object,
                device_id: object, readonly: bool) -> VmDevice | None:
    """One device from what a reader found, or None when it cannot be stored.

    `device_id` None: an unmanaged device, whose id is derived from the VM, the type, the
    device and the alias (or the address), so the same device keeps its id from read to read.
    """
    alias = alias or ""
    if type(kind) is not str or not kind or type(name) is not str or not name or type(alias) is not str:
        return None  # oVirt: empty or missing type or device, skipped
    if len(kind) > _SHORT or len(name) > _SHORT or len(alias) > _NAME:
        return None  # longer than the columns that store them
    if address is None:
        return None
    if device_id is not None and (type(device_id) is not str or not device_id or len(device_id) > _SHORT * 2):
        return None
    managed = device_id is not None
    if device_id is None:
        device_id = str(uuid.uuid5(_UNMANAGED, f"{vm_id}|{kind}|{name}|{alias or address}"))
    return VmDevice(str(device_id), kind, name, address, alias, managed=managed, readonly=readonly)


def _device(vm_id: str, d: object) -> VmDevice | None:
    if type(d) is not dict:
        return None
    readonly = str(d.get("readonly", "false")).lower() == "true"
    return make_device(vm_id, d.get("type"), d.get("device"), canonical_address(d.get("address")), d.get("alias"),
                       d.get("deviceId"), readonly)


def canonical_address(raw: object) -> str | None:
    """Canonical text of VDSM's address: a map as sorted JSON, a string as it is; "" when absent."""
    if raw is None:
        return ""
    if type(raw) is str:
        return raw
    if type(raw) is dict and all(type(k) is str for k in raw):
        try:
            return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            return None
    return None
