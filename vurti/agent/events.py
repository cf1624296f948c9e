"""VDSM's pushed events (`|virt|VM_status|<vmId>`) as partial HostReports: pure, no I/O.

An event names some VMs of one host with their new status (and, for Down, the
exit code, reason and message), stamped with `notify_time` on the host's own
clock. It becomes a report with `partial=True` (absent VMs are not known to be
gone) on the same update path as polls; events without a usable notify_time are
dropped, since nothing could order them against the polls. `|net|host_conn|` is a
hint that the host's capabilities changed (the holder has the next poll read them).
Other events (migration progress, ...) are not monitoring data here and are ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from vurti.agent.convert import to_int
from vurti.agent.parse import parse_vm_event
from vurti.domain.report import HostReport, VmReport

log = logging.getLogger(__name__)

VM_STATUS = "|virt|VM_status|"
HOST_CONN = "|net|host_conn|"  # VDSM's hint that the host's capabilities changed


def capabilities_hint(message: dict[str, Any]) -> bool:
    """`|net|host_conn|...`: the engine should read the host's capabilities again."""
    method = message.get("method")
    return type(method) is str and method.startswith(HOST_CONN)


def event_report(host_id: str, message: dict[str, Any], received_at: float) -> HostReport | None:
    """The report of one event message, or None when it carries no VM status to apply."""
    method = message.get("method")
    if type(method) is not str or not method.startswith(VM_STATUS):
        return None
    params = message.get("params")
    if type(params) is not dict:
        log.warning("host %s: %s event without params dropped", host_id, method)
        return None
    notify_time = to_int(params.get("notify_time"))
    if notify_time is None:
        log.warning("host %s: %s event without a usable notify_time dropped", host_id, method)
        return None
    warnings: list[str] = []
    vms: list[VmReport] = []
    for vm_id, details in params.items():
        if vm_id == "notify_time":
            continue
        vm = parse_vm_event(vm_id, details, notify_time, warnings)
        if vm is not None:
            vms.append(vm)
    if not vms:
        return None
    return HostReport(host_id=host_id, fetched_at=received_at, vms=tuple(vms), partial=True, warnings=tuple(warnings))
