"""The test agent itself, driven over a raw socket: it keeps VDSM's rules, so the client tests mean something."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from tests.agent.server import AgentServer, echo
from tests.support.procs import wait_for
from vurti.stomp import Frame, FrameParser, encode


class Peer:
    """A blocking STOMP peer with a deadline on every read."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.parser = FrameParser(1024 * 1024)
        self.frames: list[Frame] = []

    def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        self.sock.sendall(encode(command, headers, body))

    def next(self) -> Frame:
        while not self.frames:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True


@contextmanager
def peer(server: AgentServer) -> Iterator[Peer]:
    p = Peer(server.port)
    try:
        yield p
    finally:
        p.sock.close()


def test_connect_wants_exactly_1_2_and_raises_heartbeats_to_a_second(server: AgentServer) -> None:
    with peer(server) as p:
        p.send("CONNECT", {"accept-version": "1.1,1.2"})
        error = p.next()
        assert error.command == "ERROR" and error.body == b"Version unsupported"
        p.send("CONNECT", {"accept-version": "1.2", "heart-beat": "0,200"})  # the connection stayed open
        connected = p.next()
    assert connected.command == "CONNECTED"
    assert connected.headers["version"] == "1.2" and connected.headers["heart-beat"] == "1000,0"


def test_a_reply_goes_to_every_subscription_of_its_reply_to_on_any_connection(server: AgentServer) -> None:
    server.on("*", echo)
    with peer(server) as one, peer(server) as two:
        one.send("SUBSCRIBE", {"destination": "mine", "id": "s1", "ack": "auto"})
        two.send("SUBSCRIBE", {"destination": "mine", "id": "s2", "ack": "auto"})
        two.send("SUBSCRIBE", {"destination": "theirs", "id": "s3", "ack": "auto"})
        # two connections: nothing orders `two`'s frames before `one`'s SEND but waiting for them
        wait_for(lambda: len(server.frames("SUBSCRIBE")) == 3, timeout=10, what="the subscriptions")
        request = {"jsonrpc": "2.0", "id": "r1", "method": "Test.echo", "params": {"n": 1}}
        one.send("SEND", {"destination": "jms.topic.vdsm_requests", "reply-to": "mine"}, orjson.dumps(request))
        first, second = one.next(), two.next()
    assert first.headers["subscription"] == "s1" and second.headers["subscription"] == "s2"
    assert "message-id" not in first.headers
    assert orjson.loads(first.body) == orjson.loads(second.body) == {"jsonrpc": "2.0", "id": "r1", "result": {"n": 1}}


def test_bad_subscriptions_get_error_and_the_connection_stays(server: AgentServer) -> None:
    with peer(server) as p:
        p.send("SUBSCRIBE", {"destination": "x"})
        assert p.next().body == b"Missing destination or subscription id header"
        p.send("SUBSCRIBE", {"destination": "x", "id": "a"})
        p.send("SUBSCRIBE", {"destination": "y", "id": "a"})
        assert p.next().body == b"Subscription id already exists"
        p.send("SEND", {"destination": "/queue/_local/vdsm/requests"}, b"{}")
        assert p.next().body == b"Subscription not available"


def test_stomp_ack_and_malformed_frames_close_the_connection(server: AgentServer) -> None:
    for frame in (encode("STOMP", {"accept-version": "1.2"}), encode("ACK", {"id": "1"}), b"SEND\nno colon\n\n\0"):
        with peer(server) as p:
            p.sock.sendall(frame)
            assert p.closed_by_server()
