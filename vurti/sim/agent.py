"""One connection to a simulated VDSM agent, handled as VDSM's stompserver does (reference/vdsm-stomp.md).

The first 11 bytes choose the protocol (STOMP commands; `PUT /` and `GET /` get an
HTTP error; anything else, `POST /` and `STOMP` included, is closed). Then STOMP
1.2 frames: CONNECT needs `accept-version` exactly `1.2` and negotiates
heart-beats (`cx,cy` in, `cy,cx` out, non-zero values raised to 1000 ms); an LF
goes out after `cy` ms without output and the connection closes after `cx` ms
without input, with no grace. SUBSCRIBE and SEND may come before CONNECT.
UNSUBSCRIBE, DISCONNECT and SEND are the only other commands; anything else and
any malformed frame close the connection.

Heart-beats use one lazy timer per connection (re-armed from the last write or
read when it fires), so writing a frame costs no timer work.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from vurti.stomp.frames import Frame, FrameError, FrameParser, encode, escape

if TYPE_CHECKING:
    from vurti.sim.agents import HostAgent

DETECT_BYTES = 11
DETECT_SECONDS = 10.0
STOMP_STARTS = (b"MESSAGE", b"SEND", b"SUBSCRIBE", b"UNSUBSCRIBE", b"CONNECT", b"CONNECTED", b"ERROR",
                b"RECEIPT", b"DISCONNECT")
HTTP_STARTS = (b"PUT /", b"GET /")
HTTP_REFUSAL = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MIN_HEARTBEAT_MS = 1000


def heartbeat_pair(value: str | None) -> tuple[int, int]:
    """(cx, cy) of a CONNECT `heart-beat` header, non-zero values raised to 1000; ValueError if malformed."""
    if not value:
        return 0, 0
    cx_s, cy_s = value.split(",")
    cx, cy = int(cx_s), int(cy_s)
    if cx < 0 or cy < 0:
        raise ValueError(f"negative heart-beat {value!r}")
    return (max(cx, MIN_HEARTBEAT_MS) if cx else 0), (max(cy, MIN_HEARTBEAT_MS) if cy else 0)


class Connection(asyncio.Protocol):
    """One client of one host; subscriptions live in the host's shared map."""

    __slots__ = (
        "agent",
        "closed",
        "expect_every",
        "head",
        "last_in",
        "last_out",
        "loop",
        "parser",
        "send_every",
        "subs",
        "timer",
        "transport",
    )

    def __init__(self, agent: HostAgent) -> None:
        self.agent = agent
        self.transport: asyncio.Transport | None = None
        self.parser: FrameParser | None = None  # None until the detector has seen 11 bytes
        self.head = b""
        self.subs: dict[str, str] = {}  # subscription id -> destination
        self.send_every = 0.0  # seconds: an LF after this long without output (0: never)
        self.expect_every = 0.0  # seconds: close after this long without input (0: never)
        self.last_in = self.last_out = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.loop = asyncio.get_running_loop()

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last_in = self.last_out = self.loop.time()
        self.timer = self.loop.call_later(DETECT_SECONDS, self.abort)
        self.agent.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.agent.lost(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_in = self.loop.time()
        parser = self.parser
        if parser is None:
            self.head += data
            if len(self.head) < DETECT_BYTES:
                return
            data, self.head = self.head, b""
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if data.startswith(HTTP_STARTS):
                self.write(HTTP_REFUSAL)
                self.close()
                return
            if not data.startswith(STOMP_STARTS):
                self.abort()
                return
            parser = self.parser = FrameParser(self.agent.hub.max_frame)
        try:
            frames = parser.feed(data)
        except FrameError:
            self.abort()
            return
        for frame in frames:
            if self.closed:
                return
            self.on_frame(frame)

    # -- frames -------------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        command = frame.command
        if command == "SEND":
            self.agent.on_send(self, frame)
        elif command == "SUBSCRIBE":
            self.subscribe(frame.headers)
        elif command == "CONNECT":
            self.connect(frame.headers)
        elif command == "UNSUBSCRIBE":
            sub_id = frame.headers.get("id")
            if sub_id is None or sub_id not in self.subs:
                self.error("Missing or unknown subscription id header")
                return
            self.agent.unsubscribe(self, sub_id, self.subs.pop(sub_id))
        elif command == "DISCONNECT":
            receipt = frame.headers.get("receipt")
            if receipt is not None:
                self.write(encode("RECEIPT", {"receipt-id": receipt}))
            self.close()
        else:  # STOMP, ACK, NACK, BEGIN, COMMIT, ABORT, server commands, anything else
            self.abort()

    def connect(self, headers: dict[str, str]) -> None:
        if headers.get("accept-version") != "1.2":
            self.error("Version unsupported")
            return
        try:
            cx, cy = heartbeat_pair(headers.get("heart-beat"))
        except ValueError:
            self.abort()
            return
        self.write(encode("CONNECTED", {"version": "1.2", "heart-beat": f"{cy},{cx}"}))
        self.send_every, self.expect_every = cy / 1000, cx / 1000
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._arm()

    def subscribe(self, headers: dict[str, str]) -> None:
        destination, sub_id = headers.get("destination"), headers.get("id")
        if destination is None or sub_id is None:
            self.error("Missing destination or subscription id header")
            return
        if sub_id in self.subs:
            self.error("Subscription id already exists")
            return
        self.subs[sub_id] = destination
        prefix = (f"MESSAGE\ndestination:{escape(destination)}\ncontent-type:application/json\n"
                  f"subscription:{escape(sub_id)}\ncontent-length:").encode()
        self.agent.subscribe(self, sub_id, destination, prefix)

    def error(self, text: str) -> None:
        self.write(encode("ERROR", None, text.encode()))

    # -- output -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None:
            return
        if transport.get_write_buffer_size() > self.agent.hub.out_limit:
            self.abort()  # a reader this slow would make the simulator's memory grow without bound
            return
        transport.write(data)
        self.last_out = self.loop.time()

    def message(self, prefix: bytes, body: bytes) -> None:
        """A MESSAGE to one subscription: `prefix` ends with `content-length:`."""
        self.write(b"%b%d\n\n%b\0" % (prefix, len(body), body))

    def truncated(self, prefix: bytes, body: bytes) -> None:
        """A MESSAGE announcing the whole body, half of it sent, then the connection closes."""
        self.write(b"%b%d\n\n%b" % (prefix, len(body), body[: len(body) // 2]))
        self.close()

    def close(self) -> None:
        """Close after what is already written has gone out."""
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping whatever is still buffered."""
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    # -- heart-beats --------------------------------------------------------------------

    def _arm(self) -> None:
        when = []
        if self.send_every:
            when.append(self.last_out + self.send_every)
        if self.expect_every:
            when.append(self.last_in + self.expect_every)
        if when and not self.closed:
            self.timer = self.loop.call_at(min(when), self._beat)

    def _beat(self) -> None:
        self.timer = None
        if self.closed:
            return
        now = self.loop.time()
        if self.expect_every and now - self.last_in >= self.expect_every:
            self.abort()  # no grace, as VDSM
            return
        if self.send_every and now - self.last_out >= self.send_every:
            if self.agent.heartbeats_stopped():
                self.last_out = now  # pretend, so the timer does not spin; nothing is written
            else:
                self.write(b"\n")
        self._arm()
