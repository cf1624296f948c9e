"""Fuzzed agent replies on the wire, into the poll's own parsing: a report (errors as data), never a raise.

Bytes as a STOMP MESSAGE body carries them (JSON-RPC replies of Host.getCapabilities,
Host.getStats, Host.getAllVmStats and Host.getVMList, with results from the parser
property tests' strategies; the simulator's `fuzz` mutations of real replies; and
garbage), through jsonrpc.decode / unwrap_reply and poll_steps as the pollers drive
them; events as the link hands them to event_report. The parsers' own properties
are in test_properties.py.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agent.test_properties import CAPS_KEYS, HOST_KEYS, _like, _survives_json, json_values, vm_like
from vurti.agent.events import event_report
from vurti.agent.jsonrpc import decode, unwrap_reply
from vurti.agent.plan import PollRequest
from vurti.agent.steps import Call, poll_steps, run_steps
from vurti.domain.report import HostReport
from vurti.sim.fuzz import fuzzed

REQUEST_ID = "5b4c2e0e-0000-4000-8000-000000000001"
RESULTS = {
    "Host.getCapabilities": _like(CAPS_KEYS) | json_values,
    "Host.getStats": _like(HOST_KEYS) | json_values,
    "Host.getAllVmStats": st.lists(vm_like, max_size=4) | json_values,
    "Host.getVMList": st.lists(vm_like, max_size=4) | json_values,
}


def envelopes(result: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A reply body: a JSON-RPC reply (right or wrong id, result or error), other JSON, or garbage."""
    ids = st.sampled_from([REQUEST_ID, None, 7, "other"])
    replies = st.one_of(
        st.builds(lambda r, i: {"jsonrpc": "2.0", "id": i, "result": r}, result, ids),
        st.builds(lambda e, i: {"jsonrpc": "2.0", "id": i, "error": e}, json_values
                  | st.fixed_dictionaries({"code": json_values, "message": json_values}), ids),
        json_values,
    )
    # json, not orjson: integers beyond 64 bits go on the wire too
    return replies.map(lambda r: json.dumps(r).encode()) | st.binary(max_size=200)


def _poll(bodies: dict[str, bytes], request: PollRequest) -> HostReport:
    def call(c: Call) -> Any:
        return unwrap_reply(decode(bodies[c.verb], "h1"), REQUEST_ID, c.verb, "h1")

    return run_steps(poll_steps(request), call)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({verb: envelopes(result) for verb, result in RESULTS.items()}), st.booleans(),
       st.booleans())
def test_a_poll_of_fuzzed_replies_is_a_report(bodies: dict[str, bytes], capabilities: bool, full: bool) -> None:
    request = PollRequest("h1", "stomp://h1:54321", 1000.0, capabilities=capabilities, host_stats=full,
                          full_vms=full, stats_due=full)
    report = _poll(bodies, request)
    assert report.host_id == "h1"
    _survives_json(report)


REAL_REPLIES = {
    "Host.getVMList": {"jsonrpc": "2.0", "id": REQUEST_ID, "result": [
        {"vmId": "0b0e7c2a-0000-4000-8000-000000000001", "status": "Up", "statusTime": "2147490000"},
        {"vmId": "0b0e7c2a-0000-4000-8000-000000000002", "status": "Down", "statusTime": "2147490000",
         "exitCode": 1, "exitReason": 4, "exitMessage": "Migration succeeded"}]},
    "Host.getAllVmStats": {"jsonrpc": "2.0", "id": REQUEST_ID, "result": [
        {"vmId": "0b0e7c2a-0000-4000-8000-000000000001", "status": "Paused", "statusTime": "2147490000",
         "pauseCode": "EIO", "cpuUser": "1.5", "monitorResponse": "0", "network": {"vnet0": {"rx": "10"}},
         "disks": {"vda": {"readRate": "0.0"}}, "memoryStats": {"mem_free": "1024"}}]},
    "Host.getStats": {"jsonrpc": "2.0", "id": REQUEST_ID, "result": {
        "cpuUser": "1.0", "cpuSys": "0.5", "cpuIdle": "98.5", "memFree": 1024, "vmCount": 2, "bootTime": "1700000000",
        "network": {"eth0": {"rx": "1", "tx": "2", "speed": "1000"}}}},
    "Host.getCapabilities": {"jsonrpc": "2.0", "id": REQUEST_ID, "result": {
        "cpuModel": "Intel", "cpuFlags": "vmx,sse2", "networks": {"ovirtmgmt": {}}, "software_version": "4.50"}},
}


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=2**32))
def test_the_simulators_fuzzed_replies_are_reports(seed: int) -> None:
    """The mutations the live case sends (`fuzz` fault), from real-looking replies."""
    rng = random.Random(seed)
    bodies = {verb: fuzzed(orjson.dumps(reply), rng) for verb, reply in REAL_REPLIES.items()}
    request = PollRequest("h1", "stomp://h1:54321", 1000.0, capabilities=True, host_stats=True, full_vms=True,
                          stats_due=True)
    _survives_json(_poll(bodies, request))
    _survives_json(_poll(bodies, PollRequest("h1", "stomp://h1:54321", 1000.0)))


EVENT = {"jsonrpc": "2.0", "method": "|virt|VM_status|0b0e7c2a-0000-4000-8000-000000000001",
         "params": {"0b0e7c2a-0000-4000-8000-000000000001": {"status": "Paused", "pauseCode": "EIO"},
                    "notify_time": 2147490000}}
events = st.one_of(
    json_values,
    st.builds(lambda m, p: {"jsonrpc": "2.0", "method": m, "params": p},
              st.sampled_from([EVENT["method"], "|virt|VM_status|", "|virt|other|x"]) | json_values,
              st.dictionaries(st.text(max_size=40) | st.just("notify_time"), vm_like, max_size=3) | json_values),
    st.integers(min_value=0, max_value=2**32).map(lambda s: fuzzed(orjson.dumps(EVENT), random.Random(s))),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_a_fuzzed_event_is_a_partial_report_or_nothing(message: Any) -> None:
    if isinstance(message, bytes):
        try:
            message = orjson.loads(message)
        except orjson.JSONDecodeError:
            return  # the link drops a body that is not JSON before event_report
    if not isinstance(message, dict):
        return  # likewise a body that is not an object
    report = event_report("h1", message, 1000.0)
    if report is not None:
        assert report.partial and report.vms
        _survives_json(report)
