"""Every call fault produces what it says over STOMP, and clearing it brings the host back.

The transport and event faults (drop, no_heartbeat, events_*) are in test_stomp_protocol.py.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import orjson
import pytest
import requests

from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim
from tests.support.stomp_peer import Closed, StompPeer
from vurti.domain.status import VDSM_VM_STATUS

VERB = "Host.getAllVmStats"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=12, vms_per_host=4, seed=3) as s:
        yield s


def _body(peer: StompPeer, timeout: float = 5.0) -> bytes:
    """The body of the next MESSAGE (the reply to the one request in flight)."""
    return peer.message(timeout).body


def test_refuse_closes_the_listener_and_drops_open_connections(sim: SimProcess) -> None:
    open_peer = sim.peer("host-0001")
    sim.control.set_fault("host-0001", "refuse")
    assert open_peer.closed_within(5)
    with pytest.raises(ConnectionRefusedError):
        StompPeer(sim.address("host-0001"))
    assert sim.result("host-0002", "Host.ping") is True
    sim.control.clear_fault("host-0001")
    assert sim.result("host-0001", "Host.ping") is True
    open_peer.close()


def test_hang_until_client_timeout_and_release_on_clear(sim: SimProcess) -> None:
    sim.control.set_fault("host-0002", "hang")
    first, second = sim.peer("host-0002"), sim.peer("host-0002")
    with first, second:
        started = time.monotonic()
        one = first.request(VERB)
        assert first.no_frame(0.5)
        assert time.monotonic() - started >= 0.5
        two = second.request(VERB)
        wait_for(lambda: sim.control.host("host-0002")["fault"]["hits"] >= 2, what="second hung request")
        sim.control.clear_fault("host-0002")
        assert "result" in first.reply(one) and "result" in second.reply(two)


def test_slow_adds_latency(sim: SimProcess) -> None:
    sim.control.set_fault("host-0003", "slow", seconds=0.6)
    started = time.monotonic()
    assert "result" in sim.rpc("host-0003", VERB)
    assert time.monotonic() - started >= 0.6
    sim.control.clear_fault("host-0003")


def test_jsonrpc_error_with_given_code_and_verb_filter(sim: SimProcess) -> None:
    sim.control.set_fault("host-0004", "jsonrpc_error", code=100, message="General Exception: ('boom',)",
                          verbs=[VERB])
    assert sim.rpc("host-0004", VERB)["error"] == {"code": 100, "message": "General Exception: ('boom',)"}
    assert sim.result("host-0004", "Host.getVMList")  # other verbs unaffected
    sim.control.clear_fault("host-0004")


def test_malformed_is_a_message_that_is_not_json(sim: SimProcess) -> None:
    sim.control.set_fault("host-0005", "malformed")
    with sim.peer("host-0005") as peer:
        peer.request(VERB)
        body = _body(peer)
        assert len(body) > 10
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
        sim.control.clear_fault("host-0005")
        assert peer.call("Host.ping")["result"] is True  # the connection stays usable


def test_fuzz_bends_each_reply_by_its_seed_and_the_connection_stays(sim: SimProcess) -> None:
    sim.control.set_fault("host-0005", "fuzz", seed=3, verbs=["Host.getAllVmStats"])
    with sim.peer("host-0005") as peer:
        bodies = []
        for _ in range(8):
            peer.request("Host.getAllVmStats")
            bodies.append(_body(peer))
        assert sim.control.host("host-0005")["fault"]["hits"] == 8
        assert sim.control.host("host-0005")["fault"]["seed"] == 3
        sim.control.clear_fault("host-0005")
        normal = peer.call("Host.getAllVmStats")
        assert all(body != json.dumps(normal).encode() for body in bodies)
        assert len(set(bodies)) > 1  # a new mutation per reply
        assert peer.call("Host.ping")["result"] is True


def _raw_until_closed(address: str, request: bytes, timeout: float = 5.0) -> bytes:
    """Everything the host sends until it closes the connection."""
    from urllib.parse import urlsplit

    url = urlsplit(address)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_truncated_announces_more_than_it_sends_then_closes(sim: SimProcess) -> None:
    sim.control.set_fault("host-0006", "truncated")
    call = orjson.dumps({"jsonrpc": "2.0", "id": "t1", "method": VERB, "params": {}})
    request = (b"SUBSCRIBE\ndestination:r\nid:1\n\n\0SEND\ndestination:jms.topic.vdsm_requests\nreply-to:r\n"
               b"content-length:%d\n\n%b\0" % (len(call), call))
    data = _raw_until_closed(sim.address("host-0006"), request)
    head, _, body = data.partition(b"\n\n")
    assert head.startswith(b"MESSAGE\n")
    announced = int(dict(line.split(b":", 1) for line in head.split(b"\n")[1:])[b"content-length"])
    assert 10 < len(body) < announced and not body.endswith(b"\0")
    sim.control.set_fault("host-0006", "truncated", remaining=1)
    with sim.peer("host-0006") as peer:
        peer.request(VERB)
        assert peer.closed_within(5)
    assert sim.result("host-0006", "Host.ping") is True  # cleared itself after one reply


def test_wrong_types(sim: SimProcess) -> None:
    sim.control.set_fault("host-0007", "wrong_types")
    vms = sim.rpc("host-0007", VERB)["result"]
    assert isinstance(vms[0]["vmId"], int) and vms[0]["disks"] == 0
    stats = sim.rpc("host-0007", "Host.getStats")["result"]
    assert stats["network"] == 0 and isinstance(stats["memFree"], str)
    sim.control.clear_fault("host-0007")


def test_unknown_status(sim: SimProcess) -> None:
    sim.control.set_fault("host-0008", "unknown_status", status="Hibernating")
    statuses = {v["status"] for v in sim.result("host-0008", "Host.getVMList")}
    assert statuses == {"Hibernating"} and not statuses & set(VDSM_VM_STATUS)
    sim.control.clear_fault("host-0008")


def test_recovering_answers_99_on_every_verb_then_recovers(sim: SimProcess) -> None:
    sim.control.set_fault("host-0009", "recovering", seconds=1.0)
    for verb in ("Host.ping", "Host.getVMList", "Host.getStats", "Host.getCapabilities"):
        err = sim.rpc("host-0009", verb)["error"]
        assert err == {"code": 99, "message": "Recovering from crash or Initializing"}
    wait_for(lambda: "result" in sim.rpc("host-0009", "Host.ping"), timeout=5, what="recovery to end")


def test_restart_changes_boot_time_and_clock_and_keeps_vms(sim: SimProcess) -> None:
    host = "host-0010"
    before_stats = sim.result(host, "Host.getStats")
    before_vms = sim.result(host, "Host.getVMList")
    with sim.peer(host) as watcher:
        sim.control.set_fault(host, "restart", seconds=1.0)
        assert watcher.closed_within(5)  # a restarting VDSM closes every connection
    with sim.peer(host) as fresh:
        assert fresh.call("Host.getVMList")["error"]["code"] == 99
    wait_for(lambda: "result" in sim.rpc(host, "Host.ping"), timeout=5, what="agent restart to end")
    after_stats = sim.result(host, "Host.getStats")
    after_vms = sim.result(host, "Host.getVMList")
    assert after_stats["bootTime"] != before_stats["bootTime"]
    assert [(v["vmId"], v["status"]) for v in after_vms] == [(v["vmId"], v["status"]) for v in before_vms]
    assert int(after_vms[0]["statusTime"]) < int(before_vms[0]["statusTime"])  # a new clock base


def test_huge_reply_has_the_given_size(sim: SimProcess) -> None:
    size = 5 * 1024 * 1024
    sim.control.set_fault("host-0011", "huge", size=size)
    with sim.peer("host-0011", timeout=30) as peer:
        peer.request(VERB)
        body = _body(peer, timeout=30)
    assert len(body) == size
    assert len(json.loads(body)["result"]) == 4
    sim.control.clear_fault("host-0011")


def test_unknown_fault_kind_is_refused(sim: SimProcess) -> None:
    resp = requests.put(sim.base_url + "control/hosts/host-0012/fault", json={"kind": "gremlins"}, timeout=5)
    assert resp.status_code == 400


def test_sigterm_stops_cleanly_even_with_a_hung_request() -> None:
    with running_sim(hosts=1, vms_per_host=1) as s:
        s.control.set_fault("host-0001", "hang")
        peer = s.peer("host-0001")
        peer.request(VERB)
        wait_for(lambda: s.control.host("host-0001")["fault"]["hits"] >= 1, what="a hung request")
        started = time.monotonic()
        s.proc.terminate()
        assert s.proc.wait(15) == 0
        assert time.monotonic() - started < 10
        with pytest.raises((Closed, TimeoutError, OSError)):
            peer.frame(5)
        peer.close()
