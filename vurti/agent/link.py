"""One persistent STOMP connection to one host's VDSM, with calls multiplexed on it by JSON-RPC id.

As the oVirt engine connects (vdsm-stomp.md §1, §5): CONNECT (never STOMP) with
`accept-version:1.2` and `heart-beat:0,<ms>`, SUBSCRIBE to a reply destination
of the link's own (a UUID, so replies never mix with a real engine's, which
VDSM fans out to every subscriber of `jms.topic.vdsm_responses`) and, when the
link carries the host's events, to `jms.queue.events`; SENDs only after
CONNECTED. Each call is one SEND frame with a UUID id and `reply-to`; its reply
is routed by id, so any number of calls share the link, and a late reply to a
call that timed out is dropped. A frame VDSM sends without an id and with a
method is an event, handed to `on_event`.

Failures: a call without a reply within `read_timeout` fails alone
(AgentTimeout) and the link stays; a link that breaks (closed, reset, a frame
that is not STOMP, the host silent past 1.5 heart-beat intervals) fails every
call in flight at once with the link's error, as the engine does. A verb the
host does not know (JSON-RPC -32601) fails at once for the rest of the link's life.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from vurti.agent.address import AgentAddress
from vurti.agent.errors import (
    METHOD_NOT_FOUND_CODE,
    AgentCallError,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    ProtocolError,
)
from vurti.agent.jsonrpc import encode_request, unwrap_reply
from vurti.config import AgentSettings
from vurti.stomp import Frame, FrameError, FrameParser, encode

log = logging.getLogger(__name__)

REQUESTS = "jms.topic.vdsm_requests"
EVENTS = "jms.queue.events"
HEARTBEAT_GRACE = 1.5  # the engine's: silence of 1.5 intervals is a failed connection

EventHandler = Callable[[AgentAddress, dict[str, Any]], None]


class Link(asyncio.Protocol):
    def __init__(self, address: AgentAddress, settings: AgentSettings, on_event: EventHandler | None) -> None:
        self.address = address
        self.where = str(address)
        self._settings = settings
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._parser = FrameParser(settings.max_reply_bytes)
        self._transport: asyncio.Transport | None = None
        self._pending: dict[str, tuple[asyncio.Future[Any], str]] = {}
        self._reply_to = str(uuid.uuid4())
        self.connected: asyncio.Future[None] = self._loop.create_future()
        self.error: AgentCallError | None = None
        self.last_rx = self.last_used = self._loop.time()
        self.rx_timeout: float | None = None  # silence that breaks the link, once CONNECTED says
        self.on_lost: Callable[[Link], None] | None = None
        # Verbs the host answered "method not found" (an older VDSM): failed here, not asked again.
        # A VDSM restart (an upgrade) closes the connection, and the next link asks afresh.
        self._unknown_verbs: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Link({self.where}, pending={len(self._pending)}, error={self.error!r})"

    @property
    def usable(self) -> bool:
        return self.error is None and self.connected.done() and not self.connected.exception()

    @property
    def carries_events(self) -> bool:
        return self._on_event is not None

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        heartbeat_ms = int(self._settings.heartbeat * 1000)
        frames = [
            encode("CONNECT", {"accept-version": "1.2", "host": "null", "heart-beat": f"0,{heartbeat_ms}"}),
            encode("SUBSCRIBE", {"destination": self._reply_to, "id": self._reply_to, "ack": "auto"}),
        ]
        if self._on_event is not None:
            frames.append(encode("SUBSCRIBE", {"destination": EVENTS, "id": str(uuid.uuid4()), "ack": "auto"}))
        transport.write(b"".join(frames))

    def data_received(self, data: bytes) -> None:
        self.last_rx = self._loop.time()
        try:
            frames = self._parser.feed(data)
        except FrameError as exc:
            self.fail(ProtocolError(f"{self.where} sent a malformed STOMP frame: {exc}"))
            return
        for frame in frames:
            self._on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the host"
        self._break(AgentUnreachable(f"connection to {self.where} lost: {reason}"))
        if self.on_lost is not None:
            self.on_lost(self)

    # -- frames ------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        command = frame.command
        if command == "MESSAGE":
            self._on_message(frame)
        elif command == "CONNECTED":
            self._negotiated(frame.headers.get("heart-beat", "0,0"))
            if not self.connected.done():
                self.connected.set_result(None)
        elif command == "ERROR":
            text = frame.body[:300].decode("utf-8", "replace") or frame.headers.get("message", "")
            if not self.connected.done():
                self.fail(ProtocolError(f"{self.where} refused CONNECT: {text}"))
            else:
                log.warning("agent %s sent ERROR: %s", self.where, text)

    def _negotiated(self, value: str) -> None:
        """The host's `heart-beat:sx,sy`: it sends one at least every max(sx, ours) ms when sx > 0."""
        try:
            sends = int(value.split(",")[0])
        except ValueError:
            sends = 0
        ours = int(self._settings.heartbeat * 1000)
        if sends > 0 and ours > 0:
            self.rx_timeout = HEARTBEAT_GRACE * max(sends, ours) / 1000.0

    def _on_message(self, frame: Frame) -> None:
        try:
            message = orjson.loads(frame.body)
        except orjson.JSONDecodeError as exc:
            self._unreadable(frame, exc)
            return
        if type(message) is list and len(message) == 1:
            message = message[0]
        if type(message) is not dict:
            self._unreadable(frame, "not a JSON object")
            return
        request_id = message.get("id")
        if request_id is not None:
            entry = self._pending.pop(request_id, None) if type(request_id) is str else None
            if entry is not None and not entry[0].done():
                entry[0].set_result(message)
            return  # else a reply to a call that timed out, or to another client of the host
        if "method" in message and self._on_event is not None:
            try:
                self._on_event(self.address, message)
            except Exception:  # a bad event must never break the link
                log.exception("event from %s could not be handled", self.where)
            return
        if "error" in message and frame.headers.get("destination") == self._reply_to:
            self._fail_calls(lambda verb: _reply_error(verb, self.where, message))

    def _unreadable(self, frame: Frame, why: object) -> None:
        """A reply on our destination that cannot be routed: it answers whatever is in flight."""
        if frame.headers.get("destination") != self._reply_to:
            log.warning("agent %s sent an unreadable event: %s", self.where, why)
            return
        self._fail_calls(lambda verb: ProtocolError(f"{verb} reply from {self.where} is not JSON: {why}"))

    # -- calls -------------------------------------------------------------------------

    async def call(self, verb: str, params: dict[str, Any] | None = None) -> Any:
        if self.error is not None:
            raise _again(self.error, verb)
        unknown = self._unknown_verbs.get(verb)
        if unknown is not None:
            raise AgentErrorReply(unknown, code=METHOD_NOT_FOUND_CODE)
        if self._transport is None:
            raise AgentUnreachable(f"{verb} to {self.where}: not connected")
        self.last_used = self._loop.time()
        request_id = str(uuid.uuid4())
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[request_id] = (future, verb)
        body = encode_request(request_id, verb, params)
        self._transport.write(encode("SEND", {"destination": REQUESTS, "reply-to": self._reply_to}, body))
        timeout = self._settings.read_timeout
        timer = self._loop.call_later(timeout, self._expire, request_id, timeout)
        try:
            reply = await future
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)
        try:
            return unwrap_reply(reply, request_id, verb, self.where)
        except AgentErrorReply as exc:
            if exc.method_not_found:
                self._unknown_verbs[verb] = exc.message
            raise

    def _expire(self, request_id: str, timeout: float) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(AgentTimeout(f"{entry[1]} to {self.where}: no reply within {timeout:g} s"))

    def fail(self, error: AgentCallError) -> None:
        """Break the link: every call in flight fails with `error`, the connection is dropped."""
        self._break(error)
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.fail(AgentUnreachable(f"connection to {self.where} closed by vurti"))

    def _break(self, error: AgentCallError) -> None:
        if self.error is None:
            self.error = error
        if not self.connected.done():
            self.connected.set_exception(self.error)
            self.connected.exception()  # retrieved here: open_link reports it
        self._fail_calls(lambda verb: _again(error, verb))

    def _fail_calls(self, make: Callable[[str], AgentCallError]) -> None:
        pending, self._pending = self._pending, {}
        for future, verb in pending.values():
            if not future.done():
                future.set_exception(make(verb))


def _again(error: AgentCallError, verb: str) -> AgentCallError:
    """The link's error for one more call: same kind, the call's verb in front."""
    return type(error)(f"{verb}: {error.message}", code=error.code) if type(error) is not AgentCallError else error


def _reply_error(verb: str, where: str, message: dict[str, Any]) -> AgentCallError:
    try:
        unwrap_reply(message, "", verb, where)
    except AgentCallError as exc:
        return exc
    return ProtocolError(f"{verb} reply from {where} carries no id")


async def open_link(
    address: AgentAddress, settings: AgentSettings, tls: ssl.SSLContext | None, on_event: EventHandler | None
) -> Link:
    """Connect, CONNECT and subscribe within connect_timeout; raise AgentCallError subclasses."""
    loop = asyncio.get_running_loop()
    where = str(address)
    made: list[Link] = []

    def factory() -> Link:
        link = Link(address, settings, on_event)
        made.append(link)
        return link

    timeout = settings.connect_timeout
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(
                factory, address.host, address.port,
                ssl=tls if address.tls else None,
                server_hostname=address.host if address.tls else None,
                ssl_handshake_timeout=timeout if address.tls else None,
            )
            await made[0].connected
    except AgentCallError:
        raise
    except asyncio.CancelledError:
        for link in made:
            link.close()  # else the half-open connection outlives the cancelled open
        raise
    except TimeoutError:
        stage = "no CONNECTED" if made else "no connection"
        for link in made:
            link.close()
        raise AgentTimeout(f"connect to {where}: {stage} within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise AgentUnreachable(f"connect to {where}: TLS failure: {exc.reason or exc}") from None
    except OSError as exc:
        raise AgentUnreachable(f"connect to {where}: {exc.strerror or exc}") from None
    return made[0]
