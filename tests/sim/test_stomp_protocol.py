"""The simulator's transport against a real `vurti sim` process, rule by rule (reference/vdsm-stomp.md §1-§7).

Each test uses hosts of its own, so the module shares one simulator.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim
from tests.support.stomp_peer import REQUESTS, StompPeer

INT_MAX = 2**31 - 1


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=30, vms_per_host=3, seed=17) as s:
        yield s


def _raw(sim: SimProcess, host: str) -> socket.socket:
    url = urlsplit(sim.address(host))
    return socket.create_connection((url.hostname, url.port), timeout=5)


def _until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """What arrives until the simulator closes the connection (TimeoutError if it does not)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _vm(sim: SimProcess, host: str, n: int = 0) -> str:
    return str(sim.result(host, "Host.getVMList")[n]["vmId"])


# -- §1 connection: the detector and CONNECT ----------------------------------------------


@pytest.mark.parametrize("first", [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                                   b"STOMP\naccept-version:1.2\n\n\0", b"hello there, agent\n"])
def test_detector_closes_what_is_not_stomp_or_http(sim: SimProcess, first: bytes) -> None:
    with _raw(sim, "host-0001") as sock:
        sock.sendall(first)
        assert _until_closed(sock) == b""


def test_detector_answers_http_get_with_an_error_and_closes(sim: SimProcess) -> None:
    with _raw(sim, "host-0001") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _until_closed(sock).startswith(b"HTTP/1.1 400 ")


def test_version_other_than_exactly_1_2_gets_error_and_the_connection_stays(sim: SimProcess) -> None:
    with StompPeer(sim.address("host-0002")) as peer:
        peer.send("CONNECT", {"accept-version": "1.1,1.2", "host": "null"})
        error = peer.frame()
        assert (error.command, error.body) == ("ERROR", b"Version unsupported")
        assert set(error.headers) == {"content-length"}
        connected = peer.connect()
        assert connected.headers == {"version": "1.2", "heart-beat": "0,0"} and connected.body == b""
        assert peer.call("Host.ping")["result"] is True


def test_subscribe_and_send_need_no_connect(sim: SimProcess) -> None:
    with StompPeer(sim.address("host-0002")) as peer:
        peer.subscribe("mine")
        req = peer.request("Host.ping", reply_to="mine")
        frame = peer.message()
        assert frame.headers["destination"] == "mine"
        assert orjson.loads(frame.body) == {"jsonrpc": "2.0", "id": req, "result": True}


@pytest.mark.parametrize("frame", [b"STOMP\naccept-version:1.2\n\n\0", b"ACK\nid:1\n\n\0", b"NACK\nid:1\n\n\0",
                                   b"BEGIN\ntransaction:t\n\n\0", b"FROB\n\n\0", b"SEND\ndestination:a:b\n\n\0",
                                   b"SEND\nh:bad\\tescape\n\n\0", b"SEND\ncontent-length:3\n\nabcd\0"])
def test_unknown_commands_and_malformed_frames_close(sim: SimProcess, frame: bytes) -> None:
    with sim.peer("host-0003") as peer:
        peer.send_raw(frame)
        assert peer.closed_within(5)


def test_frame_over_the_limit_closes_before_its_body_arrives(sim: SimProcess) -> None:
    with sim.peer("host-0003") as peer:
        peer.send_raw(b"SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:9000000\n\n")
        assert peer.closed_within(5)


def test_disconnect_with_receipt_then_close_and_without(sim: SimProcess) -> None:
    with sim.peer("host-0003") as peer:
        peer.send("DISCONNECT", {"receipt": "bye-1"})
        receipt = peer.frame()
        assert (receipt.command, receipt.headers) == ("RECEIPT", {"receipt-id": "bye-1"})
        assert peer.closed_within(5)
    with sim.peer("host-0003") as peer:
        peer.send("DISCONNECT")
        assert peer.closed_within(5)


# -- §3 requests and responses ------------------------------------------------------------


def test_subscribe_errors_keep_the_connection(sim: SimProcess) -> None:
    with sim.peer("host-0004") as peer:
        peer.send("SUBSCRIBE", {"destination": "x"})
        assert peer.frame().body == b"Missing destination or subscription id header"
        peer.subscribe("x", "same")
        peer.subscribe("y", "same")
        assert peer.frame().body == b"Subscription id already exists"
        assert peer.call("Host.ping")["result"] is True


def test_reply_fans_out_to_every_subscription_on_every_connection(sim: SimProcess) -> None:
    with sim.peer("host-0005") as one, sim.peer("host-0005") as two, sim.peer("host-0006") as other_host:
        s1, s2 = one.subscribe("shared"), two.subscribe("shared")
        other_host.subscribe("shared")
        assert one.call("Host.ping")["result"] is True  # both SUBSCRIBEs have been handled by now
        assert two.call("Host.ping")["result"] is True
        req = one.request("Host.getVMList", reply_to="shared")
        got = [one.message(), two.message()]
        assert [f.headers["subscription"] for f in got] == [s1, s2]
        for frame in got:
            assert set(frame.headers) == {"destination", "content-type", "subscription", "content-length"}
            assert frame.headers["destination"] == "shared"
            assert frame.headers["content-type"] == "application/json"
            assert orjson.loads(frame.body)["id"] == req
        assert got[0].body == got[1].body
        assert other_host.no_frame(0.5)  # another host's subscribers see nothing


def test_unsubscribe_stops_the_messages(sim: SimProcess) -> None:
    with sim.peer("host-0005") as one, sim.peer("host-0005") as two:
        sub = two.subscribe("shared-2")
        two.send("UNSUBSCRIBE", {"id": sub})
        assert two.call("Host.ping")["result"] is True
        one.subscribe("shared-2")
        one.request("Host.ping", reply_to="shared-2")
        assert one.message().headers["destination"] == "shared-2"
        assert two.no_frame(0.5)


def test_no_reply_to_means_no_reply_but_the_call_runs(sim: SimProcess) -> None:
    host = "host-0007"
    vm_id = _vm(sim, host)
    sim.control.crash(vm_id)
    with sim.peer(host) as peer:
        peer.request("VM.destroy", {"vmID": vm_id}, reply_to=None)
        assert peer.no_frame(0.7)
    assert [d["vm_id"] for d in sim.control.destroys() if d["host"] == host] == [vm_id]


def test_batch_of_two_gets_no_reply(sim: SimProcess) -> None:
    with sim.peer("host-0008") as peer:
        calls = [{"jsonrpc": "2.0", "id": i, "method": "Host.ping", "params": {}} for i in (1, 2)]
        peer.send("SEND", {"destination": REQUESTS, "reply-to": peer.reply_to}, orjson.dumps(calls))
        assert peer.no_frame(0.7)


@pytest.mark.parametrize("destination", ["jms.topic.vdsm_irs_requests", "jms.topic.vdsm_requests.x",
                                         "jms.topic.vdsm_irs_requests.x"])
def test_every_request_destination_is_served(sim: SimProcess, destination: str) -> None:
    with sim.peer("host-0008") as peer:
        body = orjson.dumps({"jsonrpc": "2.0", "id": "irs-1", "method": "Host.ping", "params": {}})
        peer.send("SEND", {"destination": destination, "reply-to": peer.reply_to}, body)
        assert orjson.loads(peer.message().body)["id"] == "irs-1"


def test_send_to_a_destination_without_subscribers_is_an_error(sim: SimProcess) -> None:
    with sim.peer("host-0008") as peer:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "Host.ping", "params": {}})
        peer.send("SEND", {"destination": "/queue/_local/vdsm/requests", "reply-to": peer.reply_to}, body)
        assert peer.frame().body == b"Subscription not available"
        assert peer.call("Host.ping")["result"] is True


def test_ids_come_back_as_sent(sim: SimProcess) -> None:
    with sim.peer("host-0008") as peer:
        for req_id in ("0f4e2c8a-7b1d-4e3f-9c25-6a8d1b3e5f70", 42):
            assert peer.reply(peer.request("Host.ping", req_id=req_id))["id"] == req_id


# -- §5 heart-beats -----------------------------------------------------------------------


def test_heartbeats_are_negotiated_and_sent(sim: SimProcess) -> None:
    with StompPeer(sim.address("host-0009")) as peer:
        assert peer.connect("0,1200").headers["heart-beat"] == "1200,0"
        started = time.monotonic()
        assert peer.no_frame(2.9)
        assert peer.heartbeats == 2, time.monotonic() - started  # at ~1.2 s and ~2.4 s
    with StompPeer(sim.address("host-0009")) as peer:
        assert peer.connect("300,5").headers["heart-beat"] == "1000,1000"  # raised to 1000 ms


def test_silence_past_the_clients_interval_closes_without_grace(sim: SimProcess) -> None:
    with StompPeer(sim.address("host-0009")) as peer:
        peer.connect("1000,0")
        started = time.monotonic()
        assert peer.closed_within(3)
        assert 0.9 <= time.monotonic() - started < 1.4
    with StompPeer(sim.address("host-0009")) as peer:
        peer.connect("1000,0")
        for _ in range(5):  # LFs every 0.6 s keep it open
            time.sleep(0.6)
            peer.send_raw(b"\n")
        assert peer.call("Host.ping")["result"] is True


# -- §4 events ----------------------------------------------------------------------------


def test_event_on_a_status_change_with_notify_time_on_the_status_time_clock(sim: SimProcess) -> None:
    host = "host-0010"
    with sim.peer(host, events=True) as peer:
        rows = peer.call("Host.getVMList")["result"]
        vm_id, status_time = rows[0]["vmId"], int(rows[0]["statusTime"])
        sim.control.pause(vm_id, code="EIO")
        event = peer.event()
        assert event["jsonrpc"] == "2.0" and "id" not in event
        assert event["method"] == f"|virt|VM_status|{vm_id}"
        params = event["params"]
        assert set(params) == {vm_id, "notify_time"}
        assert isinstance(params["notify_time"], int) and params["notify_time"] >= status_time > INT_MAX
        assert params[vm_id]["status"] == "Paused" and params[vm_id]["pauseCode"] == "EIO"
        later = int(peer.call("Host.getVMList")["result"][0]["statusTime"])
        assert params["notify_time"] <= later
        sim.control.crash(vm_id, reason=2, message="Lost connection with qemu process")
        down = peer.event()["params"][vm_id]
        assert down == {"status": "Down", "vmId": vm_id, "exitCode": 1, "exitReason": 2,
                        "exitMessage": "Lost connection with qemu process", "timeOffset": "0"}


def test_events_go_to_every_events_subscriber_of_the_host_only(sim: SimProcess) -> None:
    with sim.peer("host-0011", events=True) as one, sim.peer("host-0011", events=True) as two, \
            sim.peer("host-0012", events=True) as other, sim.peer("host-0011") as not_subscribed:
        vm_id = _vm(sim, "host-0011")
        sim.control.pause(vm_id)
        assert one.event()["method"] == two.event()["method"] == f"|virt|VM_status|{vm_id}"
        assert other.no_frame(0.3) and not_subscribed.no_frame(0.1)


def test_no_events_while_recovering(sim: SimProcess) -> None:
    host = "host-0013"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "recovering", seconds=30)
        sim.control.pause(vm_id)
        assert peer.no_frame(0.7)
        sim.control.clear_fault(host)
        sim.control.resume(vm_id)
        assert peer.event()["params"][vm_id]["status"] == "Up"


# -- transport and event faults -----------------------------------------------------------


def test_drop_closes_open_connections_and_new_ones_work(sim: SimProcess) -> None:
    host = "host-0014"
    with sim.peer(host) as one, sim.peer(host) as two:
        sim.control.set_fault(host, "drop")
        assert one.closed_within(3) and two.closed_within(3)
    assert sim.control.host(host)["fault"] is None
    with sim.peer(host) as again:
        assert again.call("Host.ping")["result"] is True


def test_no_heartbeat_stops_heartbeats_and_keeps_the_connection(sim: SimProcess) -> None:
    host = "host-0015"
    with sim.peer(host, heart_beat="0,1000") as peer:
        assert peer.no_frame(1.5) and peer.heartbeats >= 1
        sim.control.set_fault(host, "no_heartbeat")
        time.sleep(0.2)
        before = peer.heartbeats
        assert peer.no_frame(2.5)
        assert peer.heartbeats == before
        assert peer.call("Host.ping")["result"] is True  # still open and answering
        sim.control.clear_fault(host)
        assert peer.no_frame(1.5) and peer.heartbeats > before


def test_events_delay(sim: SimProcess) -> None:
    host = "host-0016"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "events_delay", seconds=1.0)
        started = time.monotonic()
        sim.control.pause(vm_id)
        assert peer.event(5)["params"][vm_id]["status"] == "Paused"
        assert time.monotonic() - started >= 0.9


def test_events_duplicate(sim: SimProcess) -> None:
    host = "host-0017"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "events_duplicate")
        sim.control.pause(vm_id)
        first, second = peer.event(), peer.event()
        assert first == second and first["params"][vm_id]["status"] == "Paused"


def test_events_reorder(sim: SimProcess) -> None:
    host = "host-0018"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "events_reorder", seconds=0.5)
        sim.control.pause(vm_id)
        sim.control.resume(vm_id)
        first, second = peer.event(), peer.event()
        assert [first["params"][vm_id]["status"], second["params"][vm_id]["status"]] == ["Up", "Paused"]
        assert first["params"]["notify_time"] > second["params"]["notify_time"]


def test_events_lose_then_flow_again(sim: SimProcess) -> None:
    host = "host-0019"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "events_lose")
        sim.control.pause(vm_id)
        assert peer.no_frame(0.5)
        sim.control.clear_fault(host)
        sim.control.resume(vm_id)
        assert peer.event()["params"][vm_id]["status"] == "Up"


def test_events_lose_with_remaining_clears_itself(sim: SimProcess) -> None:
    host = "host-0020"
    vm_id = _vm(sim, host)
    with sim.peer(host, events=True) as peer:
        sim.control.set_fault(host, "events_lose", remaining=1)
        sim.control.pause(vm_id)
        sim.control.resume(vm_id)
        assert peer.event()["params"][vm_id]["status"] == "Up"
        assert not peer.events


# -- output bounds ------------------------------------------------------------------------


def test_a_reader_too_slow_is_disconnected(sim: SimProcess) -> None:
    host = "host-0021"
    sim.control.set_fault(host, "huge", size=4 * 1024 * 1024)
    with sim.peer(host) as peer:
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        for _ in range(12):  # 48 MiB of replies, none read
            peer.request("Host.ping")
        wait_for(lambda: sim.control.host(host)["connections"] == 0, timeout=20, what="the slow reader dropped")
        received = len(_until_closed(peer.sock, timeout=20))
        assert received < 40 * 1024 * 1024
    sim.control.clear_fault(host)


def test_health_counts_connections_and_events(sim: SimProcess) -> None:
    with sim.peer("host-0022", events=True):
        wait_for(lambda: sim.control.host("host-0022")["connections"] == 1, what="the connection counted")
        agents = sim.control.health()["agents"]
        assert agents["connections"] >= 1 and agents["tls"] is False and agents["events_sent"] >= 1
