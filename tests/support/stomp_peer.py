"""A small synchronous STOMP 1.2 peer for tests: a socket, vurti's codec, and nothing clever.

It does what an engine does (CONNECT, SUBSCRIBE to a private reply destination,
SEND a JSON-RPC request, read the MESSAGE) and lets a test send anything else,
raw bytes included, and watch what comes back or whether the connection closes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import urllib.parse
import uuid
from typing import Any, Self

import orjson

from vurti.stomp.frames import Frame, FrameParser, encode

REQUESTS = "jms.topic.vdsm_requests"
EVENTS = "jms.queue.events"


class Closed(ConnectionError):
    """The simulator closed the connection."""


class StompPeer:
    def __init__(self, address: str, tls: ssl.SSLContext | None = None, timeout: float = 10.0) -> None:
        url = urllib.parse.urlsplit(address)
        sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        if url.scheme == "stomps":
            if tls is None:
                raise ValueError(f"{address} needs a TLS context")
            sock = tls.wrap_socket(sock, server_hostname=url.hostname)
        self.sock = sock
        self.timeout = timeout
        self.parser = FrameParser(256 * 1024 * 1024)
        self.pending: list[Frame] = []
        self.events: list[dict[str, Any]] = []
        self.replies: dict[Any, dict[str, Any]] = {}
        self.reply_to = ""

    # -- raw ----------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.sock.sendall(encode(command, headers, body))

    def frame(self, timeout: float | None = None) -> Frame:
        """The next frame; socket.timeout when none arrives in time, Closed when the connection ends."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except (ConnectionResetError, ssl.SSLError) as exc:
                raise Closed(str(exc)) from exc
            if not data:
                raise Closed("connection closed")
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    def no_frame(self, seconds: float) -> bool:
        """True when nothing but heart-beats arrives for `seconds` (and the connection stays open)."""
        try:
            self.frame(seconds)
        except TimeoutError:
            return True
        return False

    def closed_within(self, seconds: float) -> bool:
        """True when the simulator closes the connection within `seconds` (frames before that are dropped)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.frame(deadline - time.monotonic())
            except Closed:
                return True
            except (TimeoutError, OSError):
                return False
        return False

    @property
    def heartbeats(self) -> int:
        return self.parser.heartbeats

    # -- the engine's way ---------------------------------------------------------------

    def connect(self, heart_beat: str = "0,0", events: bool = False) -> Frame:
        """CONNECT, subscribe to a private reply destination (and the events), wait for CONNECTED."""
        self.send("CONNECT", {"accept-version": "1.2", "host": "null", "heart-beat": heart_beat})
        self.reply_to = f"test-replies-{uuid.uuid4()}"
        self.subscribe(self.reply_to)
        if events:
            self.subscribe(EVENTS)
        frame = self.frame()
        if frame.command != "CONNECTED":
            raise AssertionError(f"expected CONNECTED, got {frame} {frame.body[:200]!r}")
        self.sync()  # CONNECTED may overtake the SUBSCRIBEs
        return frame

    def sync(self) -> None:
        """Wait until the host has handled every frame sent so far, whatever its fault: a SEND to our own
        reply destination comes back as a MESSAGE (a host forwards SENDs to destinations with subscribers)."""
        marker = {"sync": str(uuid.uuid4())}
        self.send("SEND", {"destination": self.reply_to}, orjson.dumps(marker))
        while True:
            frame = self.message()
            data = orjson.loads(frame.body)
            if data == marker:
                return
            if frame.headers.get("destination") == EVENTS:
                self.events.append(data)
            elif isinstance(data, dict):
                self.replies[data.get("id")] = data

    def subscribe(self, destination: str, sub_id: str | None = None) -> str:
        sub_id = sub_id or str(uuid.uuid4())
        self.send("SUBSCRIBE", {"destination": destination, "id": sub_id, "ack": "auto"})
        return sub_id

    def request(self, method: str, params: dict[str, Any] | None = None, req_id: Any = None,
                reply_to: str | None = "") -> Any:
        """SEND one request (reply-to: the private destination unless given; None: no reply-to); its id."""
        req_id = str(uuid.uuid4()) if req_id is None else req_id
        body = orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}})
        headers = {"destination": REQUESTS}
        if reply_to is not None:
            headers["reply-to"] = reply_to or self.reply_to
        self.send("SEND", headers, body)
        return req_id

    def message(self, timeout: float | None = None) -> Frame:
        """The next MESSAGE (events are kept in `events` as they pass)."""
        while True:
            frame = self.frame(timeout)
            if frame.command == "MESSAGE":
                return frame
            raise AssertionError(f"expected MESSAGE, got {frame} {frame.body[:200]!r}")

    def reply(self, req_id: Any, timeout: float | None = None) -> dict[str, Any]:
        """The reply to `req_id`; events and other replies that arrive first are kept."""
        while req_id not in self.replies:
            frame = self.message(timeout)
            data = orjson.loads(frame.body)
            if frame.headers.get("destination") == EVENTS:
                self.events.append(data)
            elif isinstance(data, dict):
                self.replies[data.get("id")] = data
        return self.replies.pop(req_id)

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.reply(self.request(method, params), timeout)

    def event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event (one kept earlier first)."""
        while not self.events:
            frame = self.message(timeout)
            data = orjson.loads(frame.body)
            if frame.headers.get("destination") == EVENTS:
                self.events.append(data)
            elif isinstance(data, dict):
                self.replies[data.get("id")] = data
        return self.events.pop(0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
