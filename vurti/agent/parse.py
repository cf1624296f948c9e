"""VDSM replies (orjson-parsed) -> domain dataclasses; pure, no I/O.

VMs are parsed here; host statistics and capabilities in parse_host.py (re-exported).

Accepts what real VDSM sends (vdsm-wire.md) as well as what its schema says:
numbers as strings or numbers, statusTime as a string or an int, exit codes and
reasons as ints or schema names, keys that come and go.

Failure policy, from the whole reply down to one field:
- a result of the wrong shape (not a list / not an object) -> InvalidData;
- a VM entry that is not an object, or has no usable vmId, or repeats a vmId
  -> skipped, with a warning (the caller sees fewer VMs than entries);
- a VM status no engine status matches -> that VM gets status=None and a
  `problem`; the other VMs are unaffected;
- a field of the wrong type or an unparsable number -> the field's default and
  one warning per VM naming the fields.
Warnings go to the optional `warnings` list the caller passes in.

Nothing here raises anything but InvalidData, whatever JSON it is given (a
property test checks that). Conversions avoid exceptions on the good path, which
runs for every VM of every poll.
"""

from __future__ import annotations

from typing import Any

from vurti.agent.convert import (
    INT64_LIMIT,
    brief,
    devices,
    disk_stats,
    get_dict,
    get_float,
    get_int,
    get_str,
    nic_stats,
    to_float,
    to_int,
)
from vurti.agent.errors import InvalidData
from vurti.agent.parse_devices import parse_jobs
from vurti.agent.parse_host import parse_capabilities, parse_host_stats
from vurti.domain.exits import exit_code_from_wire, exit_reason_from_wire
from vurti.domain.report import VmReport, VmStats, Watchdog
from vurti.domain.status import VDSM_VM_STATUS, VmStatus

__all__ = ["parse_capabilities", "parse_host_stats", "parse_vm_list", "parse_vm_stats"]


def _nested(raw: dict[str, Any] | None, key: str, field: str, bad: list[str]) -> int | None:
    if raw is None:
        return None
    v = raw.get(field)
    if v is None:
        return None
    r = to_int(v)
    if r is None:
        bad.append(f"{key}.{field}")
    return r


def _vm_stats(e: dict[str, Any], bad: list[str]) -> VmStats:
    balloon = get_dict(e, "balloonInfo", bad)
    memory = get_dict(e, "memoryStats", bad)
    return VmStats(
        cpu_user=get_float(e, "cpuUser", bad),
        cpu_sys=get_float(e, "cpuSys", bad),
        elapsed_time=get_float(e, "elapsedTime", bad),
        mem_usage=get_int(e, "memUsage", bad),
        balloon_cur=_nested(balloon, "balloonInfo", "balloon_cur", bad),
        balloon_target=_nested(balloon, "balloonInfo", "balloon_target", bad),
        balloon_min=_nested(balloon, "balloonInfo", "balloon_min", bad),
        balloon_max=_nested(balloon, "balloonInfo", "balloon_max", bad),
        guest_mem_free=_nested(memory, "memoryStats", "mem_free", bad),
        guest_mem_total=_nested(memory, "memoryStats", "mem_total", bad),
        guest_mem_unused=_nested(memory, "memoryStats", "mem_unused", bad),
        migration_progress=get_int(e, "migrationProgress", bad, None),
        vcpu_count=get_int(e, "vcpuCount", bad, None),
        nics=devices(get_dict(e, "network", bad), "network", bad, nic_stats),
        disks=devices(get_dict(e, "disks", bad), "disks", bad, disk_stats),
    )


def _watchdog(e: dict[str, Any], bad: list[str]) -> Watchdog | None:
    raw = e.get("watchdogEvent")
    if raw is None:
        return None
    if type(raw) is dict:
        # VDSM may leave the action out; the time is what makes the event new.
        action, when = raw.get("action"), to_float(raw.get("time"))
        if (action is None or type(action) is str) and when is not None:
            return Watchdog(action=action, time=when)
    bad.append("watchdogEvent")
    return None


def _exit(e: dict[str, Any], key: str, convert: Any, bad: list[str]) -> int | None:
    v = e.get(key)
    if v is None:
        return None
    try:
        r: int | None = convert(v)
    except ValueError:  # e.g. "--1" or "²": digits to str.isdigit, not to int()
        r = None
    if r is None or not -INT64_LIMIT <= r < INT64_LIMIT:
        bad.append(key)
        return None
    return r


def _hash(e: dict[str, Any], bad: list[str]) -> str | None:
    v = e.get("hash")
    if v is None or type(v) is str:
        return v
    if type(v) is int:
        return str(v)
    bad.append("hash")
    return None


def _vm(e: object, full: bool, warnings: list[str], seen: set[str], stats: bool = True) -> VmReport | None:
    if type(e) is not dict:
        warnings.append(f"skipped a VM entry that is not an object: {brief(e)}")
        return None
    vm_id = e.get("vmId")
    if type(vm_id) is not str or not vm_id:
        warnings.append(f"skipped a VM entry without a usable vmId: {brief(vm_id)}")
        return None
    if vm_id in seen:
        warnings.append(f"vm {vm_id}: skipped a second entry for the same vmId")
        return None
    seen.add(vm_id)
    bad: list[str] = []
    raw_status = e.get("status")
    status = VDSM_VM_STATUS.get(raw_status) if type(raw_status) is str else None
    problem = None if status is not None else f"unknown VM status {brief(raw_status)}"
    report_kwargs: dict[str, Any] = {}
    if full and status is not VmStatus.Down:
        report_kwargs = {
            "name": get_str(e, "vmName", bad),
            "pause_code": get_str(e, "pauseCode", bad),
            "monitor_response": get_int(e, "monitorResponse", bad, None),
            "guest_cpu_count": get_int(e, "guestCPUCount", bad, None),
            "client_ip": get_str(e, "clientIp", bad),
            "guest_ips": get_str(e, "guestIPs", bad),
            "guest_fqdn": get_str(e, "guestFQDN", bad),
            "hash": _hash(e, bad),
            "watchdog": _watchdog(e, bad),
            "stats": _vm_stats(e, bad) if stats else None,
            "jobs": parse_jobs(e, bad),
        }
    report = VmReport(
        vm_id=vm_id,
        status=status,
        vdsm_status=raw_status if type(raw_status) is str else "",
        status_time=get_int(e, "statusTime", bad, None),
        exit_code=_exit(e, "exitCode", exit_code_from_wire, bad),
        exit_reason=_exit(e, "exitReason", exit_reason_from_wire, bad),
        exit_message=get_str(e, "exitMessage", bad),
        problem=problem,
        **report_kwargs,
    )
    if bad:
        warnings.append(f"vm {vm_id}: ignored invalid {', '.join(bad)}")
    return report


def _vms(result: object, full: bool, verb: str, warnings: list[str] | None) -> tuple[VmReport, ...]:
    if type(result) is not list:
        raise InvalidData(f"{verb} result is {type(result).__name__}, expected a list of VMs")
    if not full and result and all(type(e) is str for e in result):
        raise InvalidData(f"{verb} returned bare VM ids without statuses (VDSM <= 4.30 ignoring onlyUUID=false)")
    sink: list[str] = [] if warnings is None else warnings
    seen: set[str] = set()
    out = []
    for entry in result:
        vm = _vm(entry, full, sink, seen)
        if vm is not None:
            out.append(vm)
    return tuple(out)


def parse_vm_stats(result: object, warnings: list[str] | None = None) -> tuple[VmReport, ...]:
    """Host.getAllVmStats: running VMs with VmStats, Down records with exit info only."""
    return _vms(result, True, "Host.getAllVmStats", warnings)


def parse_vm_list(result: object, warnings: list[str] | None = None) -> tuple[VmReport, ...]:
    """Host.getVMList short rows [{vmId, status, statusTime}]; no statistics.

    A list of bare UUID strings (VDSM <= 4.30 when onlyUUID is not false) carries
    no statuses, so it cannot drive the analyzer: InvalidData, not VMs of
    unknown status (that would raise a problem for every VM on the host).
    """
    return _vms(result, False, "Host.getVMList", warnings)


def parse_vm_event(vm_id: str, details: object, notify_time: int, warnings: list[str] | None = None) -> VmReport | None:
    """One VM of a `|virt|VM_status|` event: the status and what came with it, no statistics.

    The event's notify_time is the host's statusTime clock (vdsm-stomp.md §4), so it
    stands for the VM's statusTime and orders the event with the polls.
    """
    if type(details) is not dict:
        (warnings if warnings is not None else []).append(f"vm {vm_id}: event details are not an object")
        return None
    entry = {**details, "vmId": vm_id, "statusTime": notify_time}
    return _vm(entry, True, warnings if warnings is not None else [], set(), stats=False)
