"""The verb sequence of one host poll without I/O: one core for every driver of a poll.

`poll_steps` is a generator. It yields the `Call`s a poll needs, in order
(capabilities, host statistics, VMs), receives each call's raw result, or has
the call's AgentCallError thrown into it, parses results as they arrive and
returns the HostReport. A driver only performs the calls (`run_steps_async` in
aio.py over the host's STOMP link; `run_steps` below with a blocking call, as the
in-process benchmark hosts answer), so the order, the stop at the first failure
and the parsing exist once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from vurti.agent.errors import AgentCallError, AgentErrorReply, to_fetch_error
from vurti.agent.parse import parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats
from vurti.agent.parse_devices import parse_vm_devices
from vurti.agent.parse_domxml import parse_domxmls
from vurti.agent.plan import PollRequest, raw_vm_digest
from vurti.domain.devices import VmDevice
from vurti.domain.report import FetchError, HostCapabilities, HostReport, HostStats, VmReport

log = logging.getLogger(__name__)

GET_CAPABILITIES = "Host.getCapabilities"
GET_STATS = "Host.getStats"
GET_ALL_VM_STATS = "Host.getAllVmStats"
GET_VM_LIST = "Host.getVMList"
GET_VM_FULL_LIST = "Host.getVMFullList"
DUMPXMLS = "Host.dumpxmls"
DEVICES_PER_CALL = 50  # VMs whose devices one Host.dumpxmls (or Host.getVMFullList) call asks for


@dataclass(frozen=True)
class Call:
    """One JSON-RPC call a poll needs; the driver adds the agent's URL."""

    verb: str
    params: dict[str, Any] | None = None


CAPABILITIES_CALL = Call(GET_CAPABILITIES)
STATS_CALL = Call(GET_STATS)
ALL_VM_STATS_CALL = Call(GET_ALL_VM_STATS)
# onlyUUID=false: VDSM <= 4.30 answers bare UUIDs without it; later ones ignore it.
VM_LIST_CALL = Call(GET_VM_LIST, {"onlyUUID": False})

PollSteps = Generator[Call, Any, HostReport]


@dataclass(frozen=True)
class VmFetch:
    """VMs as one verb reported them; `complete` is False when entries were skipped."""

    vms: tuple[VmReport, ...]
    full: bool
    complete: bool = True


def to_vm_fetch(result: Any, *, full: bool, warnings: list[str] | None = None) -> VmFetch:
    """Parse Host.getAllVmStats (`full`) or Host.getVMList; raises InvalidData for a wrong shape."""
    vms = parse_vm_stats(result, warnings) if full else parse_vm_list(result, warnings)
    return VmFetch(vms=vms, full=full, complete=len(vms) == len(result))


def poll_steps(request: PollRequest) -> PollSteps:
    """Yield the calls in order, parse what comes back, return the report (errors as data)."""
    if request.devices_of:
        return (yield from device_steps(request))
    host_id, now, capabilities, host_stats = request.host_id, request.now, request.capabilities, request.host_stats
    full_vms, stats_due, vms = request.full_vms, request.stats_due, request.vms
    warnings: list[str] = []
    caps: HostCapabilities | None = None
    stats: HostStats | None = None
    fetched: VmFetch | None = None
    unchanged = False
    error: FetchError | None = None
    verb = ""
    try:
        if capabilities:
            verb = GET_CAPABILITIES
            caps = parse_capabilities((yield CAPABILITIES_CALL), warnings)
        if host_stats:
            verb = GET_STATS
            stats = parse_host_stats((yield STATS_CALL), warnings)
        if vms:
            call = ALL_VM_STATS_CALL if full_vms else VM_LIST_CALL
            verb = call.verb
            result = yield call
            if not full_vms and request.unchanged_if and raw_vm_digest(result) in request.unchanged_if:
                unchanged = True
            else:
                fetched = to_vm_fetch(result, full=full_vms, warnings=warnings)
    except AgentCallError as exc:
        error = to_fetch_error(exc, verb)
        log.debug("poll of host %s failed: %s", host_id, error.message)
    return HostReport(
        host_id=host_id,
        fetched_at=now,
        error=error,
        stats=stats,
        capabilities=caps,
        vms=fetched.vms if fetched is not None else None,
        vms_full=fetched.full if fetched is not None else False,
        stats_due=stats_due,
        partial=fetched is not None and not fetched.complete,
        warnings=tuple(warnings),
        vms_unchanged=unchanged,
    )


def device_steps(request: PollRequest) -> PollSteps:
    """The devices round: the devices of `request.devices_of`, DEVICES_PER_CALL VMs a call (a
    host's first read asks for every VM: its reply stays well below the frame limit).

    Host.dumpxmls (the domain XML, as the engine reads devices since VDSM 4.40); a host that
    does not know the verb (VDSM 4.30: method not found) is asked Host.getVMFullList, whose
    rows carry the devices there. The link remembers an unknown verb (link.py), so on a legacy
    host the fallback costs one failed call per connection, not one per round. The report's VMs
    carry only their devices (status None), for the fetch to fold into the poll's own report.
    A failed call ends the round: what was read before it is kept."""
    warnings: list[str] = []
    error: FetchError | None = None
    found: dict[str, tuple[VmDevice, ...]] = {}
    wanted_ids = list(request.devices_of)
    verb = DUMPXMLS
    try:
        for start in range(0, len(wanted_ids), DEVICES_PER_CALL):
            chunk = wanted_ids[start:start + DEVICES_PER_CALL]
            if verb == DUMPXMLS:
                try:
                    found.update(parse_domxmls((yield Call(DUMPXMLS, {"vmList": chunk})), warnings))
                    continue
                except AgentErrorReply as exc:
                    if not exc.method_not_found:
                        raise
                    verb = GET_VM_FULL_LIST  # VDSM 4.30: its full list carries the devices
            found.update(parse_vm_devices((yield Call(GET_VM_FULL_LIST, {"vmList": chunk})), warnings))
    except AgentCallError as exc:
        error = to_fetch_error(exc, verb)
        log.debug("devices of host %s not read: %s", request.host_id, error.message)
    wanted = set(request.devices_of)
    vms = tuple(VmReport(vm_id, None, devices=devices) for vm_id, devices in found.items() if vm_id in wanted)
    return HostReport(request.host_id, request.now, error=error, vms=vms, partial=True, warnings=tuple(warnings))


def run_steps(steps: PollSteps, call: Callable[[Call], Any]) -> HostReport:
    """Drive `steps` with a blocking `call`; its AgentCallError goes back into the generator."""
    try:
        request = next(steps)
        while True:
            try:
                result = call(request)
            except AgentCallError as exc:
                request = steps.throw(exc)
            else:
                request = steps.send(result)
    except StopIteration as done:
        report: HostReport = done.value
        return report
