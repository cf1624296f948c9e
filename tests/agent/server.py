"""A real STOMP 1.2 agent on 127.0.0.1 that speaks VDSM's dialect (vdsm-stomp.md), for the client's tests.

As VDSM: CONNECT gets CONNECTED with `heart-beat:cy,cx` (non-zero values raised
to `heartbeat_floor_ms`, 1000 like VDSM) or ERROR when `accept-version` is not
exactly 1.2; SUBSCRIBE fills one subscription map shared by all connections; a
reply is a MESSAGE to every subscription of the request's `reply-to`, events go
to the subscribers of `jms.queue.events`; an LF heart-beat leaves after cy ms
without output; STOMP, ACK, NACK, BEGIN and malformed frames close the
connection. Each JSON-RPC method maps to a Behaviour, run in a task of its own
per request (VDSM's executor), so replies leave as calls complete.

The asyncio loop runs in a thread of its own; the test talks to the server
from outside it. It records every frame received, the replies it sent, the
connections, heart-beats and TLS handshake failures, and is stopped by the test
that started it (`with AgentServer() as server:`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import orjson

from vurti.stomp import Frame, FrameError, FrameParser, encode

REQUESTS = ("jms.topic.vdsm_requests", "jms.topic.vdsm_irs_requests")
EVENTS = "jms.queue.events"
CLOSES = ("STOMP", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT")  # VDSM drops the connection on these
T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One SEND as the server read it; `message` is None when the body was not JSON."""

    conn: Conn
    frame: Frame
    message: Any

    @property
    def id(self) -> Any:
        return self.message.get("id") if isinstance(self.message, dict) else None

    @property
    def method(self) -> str:
        return str(self.message.get("method")) if isinstance(self.message, dict) else ""

    @property
    def params(self) -> Any:
        return self.message.get("params") if isinstance(self.message, dict) else None

    @property
    def reply_to(self) -> str | None:
        return self.frame.headers.get("reply-to")


Behaviour = Callable[[Request], Awaitable[None]]


class Conn:
    """One client connection, on the server's loop."""

    def __init__(self, server: AgentServer, number: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.number = number
        self.reader = reader
        self.writer = writer
        self.subscriptions: dict[str, str] = {}  # id -> destination
        self.heartbeat = (0, 0)  # ms: (we send every, we expect input every), from CONNECT
        self.loop = asyncio.get_running_loop()
        self.last_tx = self.last_rx = self.loop.time()

    def write(self, data: bytes) -> None:
        self.last_tx = self.loop.time()
        if not self.writer.is_closing():
            self.writer.write(data)

    def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        self.write(encode(command, headers, body))

    def abort(self) -> None:
        self.writer.transport.abort()

    async def run(self) -> None:
        parser = FrameParser(64 * 1024 * 1024)
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            self.last_rx = self.loop.time()
            try:
                frames = parser.feed(data)
            except FrameError:
                self.abort()
                return
            for frame in frames:
                if not self.server._on_frame(self, frame):
                    self.abort()
                    return


# --- behaviours ------------------------------------------------------------------------------


def reply_body(request: Request, body: bytes) -> None:
    """A MESSAGE to every subscription of the request's reply-to, on any connection (VDSM's fan-out)."""
    server = request.conn.server
    server._record_reply(body)
    destination = request.reply_to
    if destination is None:
        return  # VDSM drops the reply silently
    for conn, sub_id in server._subscribers(destination):
        conn.send("MESSAGE", {"destination": destination, "content-type": "application/json",
                              "subscription": sub_id}, body)


def result(value: Any) -> Behaviour:
    async def behave(request: Request) -> None:
        reply_body(request, orjson.dumps({"jsonrpc": "2.0", "id": request.id, "result": value}))

    return behave


async def echo(request: Request) -> None:
    """The request's params as the result: shows which call a reply answers."""
    await result(request.params)(request)


def error(code: int, message: str) -> Behaviour:
    async def behave(request: Request) -> None:
        body = {"jsonrpc": "2.0", "id": request.id, "error": {"code": code, "message": message}}
        reply_body(request, orjson.dumps(body))

    return behave


def raw(body: bytes | Callable[[Request], bytes]) -> Behaviour:
    """A reply body sent as given (a callable gets the request, to put its id in)."""

    async def behave(request: Request) -> None:
        reply_body(request, body(request) if callable(body) else body)

    return behave


async def hang(request: Request) -> None:
    """Take the request and never answer."""


def delay(seconds: float, then: Behaviour) -> Behaviour:
    async def behave(request: Request) -> None:
        await asyncio.sleep(seconds)
        await then(request)

    return behave


def when(condition: Callable[[], object], then: Behaviour) -> Behaviour:
    """`then` once `condition()` holds: orders replies by events rather than by delays."""

    async def behave(request: Request) -> None:
        while not condition():  # noqa: ASYNC110 - any callable, not only an Event's flag
            await asyncio.sleep(0.005)
        await then(request)

    return behave


async def drop(request: Request) -> None:
    """Reset the connection the request came on."""
    request.conn.abort()


MALFORMED = b"MESSAGE\ndestination:x\na header line without a colon\n\n{}\0"


async def malformed(request: Request) -> None:
    request.conn.write(MALFORMED)


def truncated(declared: int, body: bytes = b'{"jsonrpc":"2.0","id":') -> Behaviour:
    """A MESSAGE that declares `declared` bytes, carries fewer, and then the connection closes."""

    async def behave(request: Request) -> None:
        head = f"MESSAGE\ndestination:{request.reply_to}\ncontent-length:{declared}\n\n".encode()
        request.conn.write(head + body)
        await request.conn.writer.drain()
        request.conn.writer.close()

    return behave


def in_pieces(value: Any, size: int = 3) -> Behaviour:
    """The reply frame in `size`-byte writes, each flushed on its own, so it crosses TCP in pieces."""

    async def behave(request: Request) -> None:
        body = orjson.dumps({"jsonrpc": "2.0", "id": request.id, "result": value})
        sub_id = next(s for s, d in request.conn.subscriptions.items() if d == request.reply_to)
        frame = encode("MESSAGE", {"destination": str(request.reply_to), "subscription": sub_id}, body)
        for start in range(0, len(frame), size):
            request.conn.write(frame[start : start + size])
            await request.conn.writer.drain()
            await asyncio.sleep(0.001)  # let each piece leave as a segment of its own

    return behave


@dataclass
class StreamStats:
    """What a huge reply got out before the client left."""

    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


def huge(total: int, stats: StreamStats, declare_length: bool = True) -> Behaviour:
    """A `total`-byte reply written 64 KiB at a time, as fast as the client reads it."""

    async def behave(request: Request) -> None:
        conn = request.conn
        headers = f"MESSAGE\ndestination:{request.reply_to}\n"
        if declare_length:
            headers += f"content-length:{total}\n"
        chunk = b"x" * 65536
        try:
            conn.write(headers.encode() + b"\n")
            while stats.sent < total and not conn.writer.is_closing():
                piece = chunk[: total - stats.sent]
                conn.write(piece)
                stats.sent += len(piece)
                await conn.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            stats.done.set()

    return behave


class OutOfOrder:
    """Hold the first `n` requests, then answer them newest first with `then`."""

    def __init__(self, n: int, then: Behaviour = echo) -> None:
        self.n = n
        self.then = then
        self.held: list[Request] = []

    async def __call__(self, request: Request) -> None:
        self.held.append(request)
        if len(self.held) == self.n:
            for held in reversed(self.held):
                await self.then(held)


# --- the server ------------------------------------------------------------------------------


class AgentServer:
    """Start with `with AgentServer() as s:`; set replies with `s.on(method, behaviour)` or `s.reply`.

    Switches: `heartbeats=False` announces heart-beats in CONNECTED but never
    sends them; `refuse_connect` answers CONNECT with ERROR and that body;
    `answer_connect=False` never answers CONNECT; `tls` serves TLS with the
    given context (CERT_REQUIRED in it makes client certificates mandatory).
    """

    def __init__(self, tls: ssl.SSLContext | None = None, *, heartbeats: bool = True,
                 refuse_connect: str | None = None, answer_connect: bool = True,
                 heartbeat_floor_ms: int = 1000) -> None:
        self.tls = tls
        self.heartbeats = heartbeats
        self.refuse_connect = refuse_connect
        self.answer_connect = answer_connect
        self.heartbeat_floor_ms = heartbeat_floor_ms
        self.behaviours: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self._frames: list[tuple[int, Frame]] = []
        self._replies: list[Any] = []
        self._conns: set[Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connections = 0
        self.tls_failures = 0
        self.heartbeats_sent = 0
        self.last_heartbeat_at = 0.0  # time.monotonic() of the last LF sent
        self.peer_certs: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agent-server", daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=256))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    @property
    def url(self) -> str:
        return f"{'stomps' if self.tls else 'stomp'}://127.0.0.1:{self.port}"

    def on(self, method: str, behaviour: Behaviour) -> AgentServer:
        self.behaviours[method] = behaviour
        return self

    def reply(self, method: str, value: Any) -> AgentServer:
        return self.on(method, result(value))

    # -- what the tests read (any thread) ------------------------------------------------------

    def frames(self, command: str | None = None) -> list[Frame]:
        with self._lock:
            return [frame for _, frame in self._frames if command is None or frame.command == command]

    @property
    def received(self) -> list[Any]:
        """The JSON-RPC requests, decoded, in arrival order."""
        return [_decode(frame.body) for frame in self.frames("SEND")]

    @property
    def methods(self) -> list[str]:
        return [r.get("method") if isinstance(r, dict) else None for r in self.received]

    @property
    def replies(self) -> list[Any]:
        """The reply bodies sent, decoded (None when not JSON), in sending order."""
        with self._lock:
            return list(self._replies)

    # -- what the tests do (any thread) --------------------------------------------------------

    def emit(self, method: str, params: dict[str, Any]) -> None:
        """An event, as clientIF.notify sends it: to every subscriber of jms.queue.events."""
        body = orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})

        async def send() -> None:
            for conn, sub_id in self._subscribers(EVENTS):
                conn.send("MESSAGE", {"destination": EVENTS, "content-type": "application/json",
                                      "subscription": sub_id}, body)

        self._run(send())

    def drop_all(self) -> None:
        """Reset every connection (the host went away)."""

        async def abort() -> None:
            for conn in list(self._conns):
                conn.abort()

        self._run(abort())

    def open_connections(self) -> int:
        return len(self._conns)

    # -- on the loop ---------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
            number = self.connections
        if self.tls is not None:
            try:
                await writer.start_tls(self.tls, ssl_handshake_timeout=5)
            except (ssl.SSLError, OSError, TimeoutError):
                with self._lock:
                    self.tls_failures += 1
                writer.transport.abort()
                return
            cert = writer.get_extra_info("peercert")
            if cert:
                self.peer_certs.append(cert)
        conn = Conn(self, number, reader, writer)
        self._conns.add(conn)
        beat = asyncio.ensure_future(self._heartbeat(conn))
        try:
            await conn.run()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            beat.cancel()
            self._conns.discard(conn)
            conn.abort()

    def _on_frame(self, conn: Conn, frame: Frame) -> bool:
        """Handle one frame; False closes the connection."""
        with self._lock:
            self._frames.append((conn.number, frame))
        command, headers = frame.command, frame.headers
        if command == "CONNECT":
            self._connect(conn, headers)
        elif command == "SUBSCRIBE":
            destination, sub_id = headers.get("destination"), headers.get("id")
            if not destination or not sub_id:
                conn.send("ERROR", {}, b"Missing destination or subscription id header")
            elif sub_id in conn.subscriptions:
                conn.send("ERROR", {}, b"Subscription id already exists")
            else:
                conn.subscriptions[sub_id] = destination
        elif command == "UNSUBSCRIBE":
            conn.subscriptions.pop(headers.get("id", ""), None)
        elif command == "SEND":
            if headers.get("destination") not in REQUESTS:
                conn.send("ERROR", {}, b"Subscription not available")
            else:
                self._spawn(self._request(Request(conn, frame, _decode(frame.body))))
        elif command == "DISCONNECT":
            if "receipt" in headers:
                conn.send("RECEIPT", {"receipt-id": headers["receipt"]})
            return False
        else:
            return command not in CLOSES
        return True

    def _connect(self, conn: Conn, headers: dict[str, str]) -> None:
        if headers.get("accept-version") != "1.2":
            conn.send("ERROR", {}, b"Version unsupported")
        elif self.refuse_connect is not None:
            conn.send("ERROR", {}, self.refuse_connect.encode())
        elif self.answer_connect:
            cx, _, cy = headers.get("heart-beat", "0,0").partition(",")
            sends, wants = self._floor(cy), self._floor(cx)
            conn.heartbeat = (sends, wants)
            conn.send("CONNECTED", {"version": "1.2", "heart-beat": f"{sends},{wants}"})

    def _floor(self, text: str) -> int:
        value = int(text) if text.strip().isdigit() else 0
        return max(value, self.heartbeat_floor_ms) if value else 0

    async def _heartbeat(self, conn: Conn) -> None:
        """An LF after `sends` ms without output; a close after `wants` ms without input (no grace)."""
        while True:
            sends, wants = conn.heartbeat
            await asyncio.sleep(min(x for x in (sends / 6000, wants / 6000, 0.05) if x > 0))
            now = conn.loop.time()
            if wants and now - conn.last_rx > wants / 1000:
                conn.abort()
                return
            if sends and self.heartbeats and now - conn.last_tx >= sends / 1000:
                conn.write(b"\n")
                with self._lock:
                    self.heartbeats_sent += 1
                    self.last_heartbeat_at = time.monotonic()

    async def _request(self, request: Request) -> None:
        message = request.message
        if type(message) is list and len(message) == 1:
            request = Request(request.conn, request.frame, message[0])  # VDSM answers a batch of one
        elif not isinstance(message, dict):
            return
        behaviour = self.behaviours.get(request.method) or self.behaviours.get("*")
        if behaviour is None:
            behaviour = error(-32601, f"The method does not exist: {request.method}")
        with contextlib.suppress(ConnectionError, OSError):
            await behaviour(request)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _subscribers(self, destination: str) -> list[tuple[Conn, str]]:
        return [(conn, sub_id) for conn in list(self._conns)
                for sub_id, dest in conn.subscriptions.items() if dest == destination]

    def _record_reply(self, body: bytes) -> None:
        with self._lock:
            self._replies.append(_decode(body))

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in list(self._conns):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
