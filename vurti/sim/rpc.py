"""VDSM's JSON-RPC verbs over a simulated host, with VDSM's error codes and messages.

Results are produced as encoded JSON so the envelope is plain byte concatenation:
cached renderings are reused and only `statusTime` is spliced in per reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from vurti.sim import actions
from vurti.sim.devices import full_row
from vurti.sim.domxml import domain_xml
from vurti.sim.fleet import Fleet, Host
from vurti.sim.hostinfo import capabilities, host_stats
from vurti.sim.wire import STATS_PERIOD, all_stats_chunks, splice, vdsm_status, vm_list_chunks, vm_stats

PARSE_ERROR, METHOD_NOT_FOUND, INVALID_REQUEST, INTERNAL_ERROR = -32700, -32601, -32600, -32603
NO_SUCH_VM = 1
TRUE = b"true"
NOT_IN_LEGACY = frozenset({"Host.dumpxmls"})  # verbs VDSM 4.30 does not have (added later)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def no_such_vm(vm_id: Any) -> RpcError:
    return RpcError(NO_SUCH_VM, f"Virtual machine does not exist: {{'vmId': {str(vm_id)!r}}}")


def reply(req_id: Any, result: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + orjson.dumps(req_id) + b',"result":' + result + b"}"


def error_reply(req_id: Any, code: int, message: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}})


Verb = Callable[[Host, dict[str, Any]], bytes]


class Rpc:
    """The verbs of every simulated host of one fleet."""

    def __init__(self, fleet: Fleet, render_cache: bool = True) -> None:
        self.fleet = fleet
        self.render_cache = render_cache
        self.verbs: dict[str, tuple[frozenset[str], Verb]] = {
            "Host.getStats": (frozenset(), self.get_stats),
            "Host.getAllVmStats": (frozenset(), self.get_all_vm_stats),
            "Host.getVMList": (frozenset({"fullStatus", "vmList", "onlyUUID"}), self.get_vm_list),
            "Host.getVMFullList": (frozenset({"vmList"}), self.get_vm_full_list),
            "Host.dumpxmls": (frozenset({"vmList"}), self.dumpxmls),
            "Host.getCapabilities": (frozenset(), self.get_capabilities),
            "Host.ping": (frozenset(), self.ping),
            "Host.ping2": (frozenset(), self.ping),
            "VM.getStats": (frozenset({"vmID"}), self.vm_get_stats),
            "VM.destroy": (frozenset({"vmID", "gracefulAttempts", "reason"}), self.vm_destroy),
        }

    @property
    def epoch(self) -> int:
        return self.fleet.tick // STATS_PERIOD

    def call(self, host: Host, method: Any, params: Any) -> bytes:
        """The encoded result of one call; raises RpcError."""
        entry = self.verbs.get(method) if isinstance(method, str) else None
        if isinstance(method, str):
            host.calls[method] = host.calls.get(method, 0) + 1
        if entry is None or (host.legacy and method in NOT_IN_LEGACY):
            raise RpcError(METHOD_NOT_FOUND, f"The method does not exist or is not available: {{'method': {method!r}}}")
        allowed, fn = entry
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(INTERNAL_ERROR, "Internal JSON-RPC error: params must be an object")
        for name in params:
            if name not in allowed:
                raise RpcError(
                    INTERNAL_ERROR,
                    f"Internal JSON-RPC error: {{'reason': \"{method.split('.')[-1]}() got an unexpected keyword argument "
                    f"'{name}'\"}}",
                )
        return fn(host, params)

    # -- Host verbs --------------------------------------------------------------------

    def get_stats(self, host: Host, params: dict[str, Any]) -> bytes:
        return orjson.dumps(host_stats(host, self.epoch))

    def get_all_vm_stats(self, host: Host, params: dict[str, Any]) -> bytes:
        return splice(all_stats_chunks(host, self.epoch, self.render_cache), host.status_time())

    def get_vm_list(self, host: Host, params: dict[str, Any]) -> bytes:
        wanted = params.get("vmList")
        if host.legacy and params.get("onlyUUID", True) is not False:  # VDSM <= 4.30: bare UUIDs
            return orjson.dumps([v for v in host.records if not wanted or v in {str(w) for w in wanted}])
        if wanted:
            keep = {str(v) for v in wanted}
            now = str(host.status_time())
            rows = [{"vmId": vm_id, "status": vdsm_status(r), "statusTime": now}
                    for vm_id, r in host.records.items() if vm_id in keep]
            return orjson.dumps(rows)
        return splice(vm_list_chunks(host), host.status_time())

    def get_vm_full_list(self, host: Host, params: dict[str, Any]) -> bytes:
        """VDSM 4.40 and later: the short rows of getVMList; VDSM 4.30: each VM's configuration
        with its `devices` (vmList filters)."""
        if not host.legacy:
            return self.get_vm_list(host, {"vmList": params.get("vmList")})
        wanted = params.get("vmList")
        keep = {str(v) for v in wanted} if wanted else None
        now = str(host.status_time())
        return orjson.dumps([full_row(r, vdsm_status(r), now) for vm_id, r in host.records.items()
                             if keep is None or vm_id in keep])

    def dumpxmls(self, host: Host, params: dict[str, Any]) -> bytes:
        """Each listed VM's domain XML; a VM the host does not have fails the whole call, as in
        VDSM (its KeyError becomes an internal error)."""
        xmls = {}
        for vm_id in params.get("vmList") or ():
            rec = host.records.get(str(vm_id))
            if rec is None:
                raise RpcError(INTERNAL_ERROR, f"Internal JSON-RPC error: {{'reason': \"{str(vm_id)!r}\"}}")
            xmls[rec.spec.vm_id] = domain_xml(rec)
        return orjson.dumps(xmls)

    def get_capabilities(self, host: Host, params: dict[str, Any]) -> bytes:
        return orjson.dumps(capabilities(host))

    def ping(self, host: Host, params: dict[str, Any]) -> bytes:
        return TRUE

    # -- VM verbs -----------------------------------------------------------------------

    def _vm_id(self, params: dict[str, Any]) -> str:
        if "vmID" not in params:
            raise RpcError(INTERNAL_ERROR, "Internal JSON-RPC error: {'reason': \"missing argument 'vmID'\"}")
        return str(params["vmID"])

    def vm_get_stats(self, host: Host, params: dict[str, Any]) -> bytes:
        vm_id = self._vm_id(params)
        rec = host.records.get(vm_id)
        if rec is None:
            raise no_such_vm(vm_id)
        return orjson.dumps([vm_stats(rec, str(host.status_time()), self.epoch)])

    def vm_destroy(self, host: Host, params: dict[str, Any]) -> bytes:
        vm_id = self._vm_id(params)
        if not actions.destroy(self.fleet, host, vm_id):
            raise no_such_vm(vm_id)
        return TRUE

