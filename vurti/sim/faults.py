"""Faults a host can be given on demand, and how each one bends a reply.

Call faults bend the replies to requests; transport faults act on the host's
listener and connections (`refuse` closes the listener and resets the open
connections, `drop` resets them once, `no_heartbeat` stops the heart-beats);
event faults bend the host's `|virt|VM_status|` events. While a host recovers
(`recovering`, `restart`) every call answers error 99 and no event is sent.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

RECOVERING_KINDS = frozenset({"recovering", "restart"})
CALL_KINDS = frozenset({
    "hang", "slow", "jsonrpc_error", "malformed", "truncated", "wrong_types", "unknown_status", "huge", "fuzz",
}) | RECOVERING_KINDS
EVENT_KINDS = frozenset({"events_delay", "events_duplicate", "events_reorder", "events_lose"})
TRANSPORT_KINDS = frozenset({"refuse", "drop", "no_heartbeat"})
KINDS = CALL_KINDS | EVENT_KINDS | TRANSPORT_KINDS
RECOVERING_CODE = 99
RECOVERING_MESSAGE = "Recovering from crash or Initializing"


@dataclass
class Fault:
    kind: str
    seconds: float = 0.0  # slow, events_delay: added latency; hang: longest hang; recovering/restart: how long;
    # events_reorder: how long events are held back before going out in reverse order
    code: int = 100
    message: str = "General Exception: ()"
    size: int = 50 * 1024 * 1024  # huge: reply size in bytes
    status: str = "Hibernating"  # unknown_status: the string VDSM never sends
    vm_id: str | None = None  # unknown_status: only this VM (else every VM)
    seed: int = 0  # fuzz: the seed of the replies' mutations
    verbs: frozenset[str] | None = None  # only these verbs (else every verb)
    remaining: int | None = None  # clears itself after this many replies (event faults: events)
    until: float | None = None  # clears itself at this monotonic time
    release: asyncio.Event | None = field(default=None, repr=False)
    hits: int = 0

    def applies(self, verb: str) -> bool:
        return self.verbs is None or verb in self.verbs

    def expired(self, now: float) -> bool:
        return (self.until is not None and now >= self.until) or self.remaining == 0

    def used(self) -> None:
        self.hits += 1
        if self.remaining is not None:
            self.remaining -= 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "hits": self.hits}
        for key in ("seconds", "code", "message", "size", "status", "vm_id", "remaining", "seed"):
            data[key] = getattr(self, key)
        data["verbs"] = sorted(self.verbs) if self.verbs is not None else None
        data["seconds_left"] = max(0.0, self.until - time.monotonic()) if self.until is not None else None
        return data


def parse_fault(data: dict[str, Any]) -> Fault:
    """A Fault from the control API's JSON; ValueError names what is wrong."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(KINDS)}")
    fault = Fault(kind=str(kind))
    for key, conv in (("seconds", float), ("code", int), ("message", str), ("size", int), ("status", str),
                      ("vm_id", str), ("remaining", int), ("seed", int)):
        if data.get(key) is not None:
            setattr(fault, key, conv(data[key]))
    if data.get("verbs") is not None:
        fault.verbs = frozenset(str(v) for v in data["verbs"])
    if kind in ("recovering", "restart"):
        fault.seconds = fault.seconds or 30.0
        fault.until = time.monotonic() + fault.seconds
        fault.code, fault.message = RECOVERING_CODE, RECOVERING_MESSAGE
    if kind == "hang":
        fault.seconds = fault.seconds or 3600.0
        fault.release = asyncio.Event()
    if kind == "events_delay":
        fault.seconds = fault.seconds or 1.0
    if kind == "events_reorder":
        fault.seconds = fault.seconds or 0.5
    return fault


# -- reply transformations -------------------------------------------------------------


def malformed(reply: bytes) -> bytes:
    """Not JSON: Python's repr of the reply (single quotes, True/False)."""
    return repr(orjson.loads(reply)).encode()


def truncated(reply: bytes) -> bytes:
    return reply[: max(1, len(reply) // 2)]


def huge(reply: bytes, size: int) -> bytes:
    """A valid reply padded with an extra member to exactly `size` bytes (when larger)."""
    head = reply[:-1] + b',"padding":"'
    pad = size - len(head) - 2
    if pad <= 0:
        return reply
    return head + b"x" * pad + b'"}'


def _vm_id_int(vm_id: Any) -> int:
    return zlib.crc32(str(vm_id).encode())


def wrong_types(verb: str, result: Any) -> Any:
    """Numbers where objects are expected, ints where strings are expected."""
    if isinstance(result, list):
        out = []
        for item in result:
            if isinstance(item, dict):
                item = dict(item)
                item["vmId"] = _vm_id_int(item.get("vmId"))
                if "statusTime" in item:
                    item["statusTime"] = int(item["statusTime"])
                for key in ("network", "disks", "memoryStats", "balloonInfo", "displayInfo"):
                    if key in item:
                        item[key] = 0
                if verb in ("Host.getVMList", "Host.getVMFullList"):
                    item["status"] = 1
            out.append(item)
        return out
    if isinstance(result, dict):
        result = dict(result)
        for key in ("network", "cpuStatistics", "numaNodeMemFree", "networks", "packages2"):
            if key in result:
                result[key] = 0
        for key in ("memFree", "vmCount"):
            if key in result:
                result[key] = str(result[key])
        if "cpuFlags" in result:
            result["cpuFlags"] = 7
        return result
    return 1


def unknown_status(result: Any, status: str, vm_id: str | None) -> Any:
    if not isinstance(result, list):
        return result
    for item in result:
        if isinstance(item, dict) and "status" in item and (vm_id is None or item.get("vmId") == vm_id):
            item["status"] = status
    return result
