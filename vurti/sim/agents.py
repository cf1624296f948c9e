"""Every simulated host's agent endpoint: its listening socket, its connections and its subscriptions.

Host i (1-based) listens on its own loopback address, 127.1.0.0 + i, port 54321,
or, with a port base P, on the bind address at port P + i - 1. As in VDSM, one
subscription map per host is shared by all of its connections: a reply goes to
every subscription of the request's `reply-to`, on any connection of that host,
and an event to every subscription of `jms.queue.events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import struct
from typing import TYPE_CHECKING, Any

import orjson

from vurti.sim import faults
from vurti.sim.agent import Connection
from vurti.sim.events import Events
from vurti.sim.fleet import Host
from vurti.sim.rpc import INTERNAL_ERROR, PARSE_ERROR, error_reply
from vurti.stomp.frames import Frame
from vurti.stomp.tls import small_tls_read_buffers

if TYPE_CHECKING:
    from vurti.sim.server import Simulator

log = logging.getLogger(__name__)
RESPONSES = "jms.topic.vdsm_responses"
REQUESTS = frozenset({"jms.topic.vdsm_requests", "jms.topic.vdsm_irs_requests",
                      "jms.topic.vdsm_requests.x", "jms.topic.vdsm_irs_requests.x"})
AGENT_PORT = 54321
FIRST_ADDRESS = int(ipaddress.IPv4Address("127.1.0.0"))
MAX_FRAME = 8 * 1024 * 1024
OUT_LIMIT = 16 * 1024 * 1024  # bytes queued for one connection before it is dropped as too slow


def agent_address(index: int, bind: str, port: int, port_base: int | None) -> tuple[str, int]:
    """Where host `index` (0-based) listens."""
    if port_base is not None:
        return bind, port_base + index
    n = FIRST_ADDRESS + index + 1
    return f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", port


class HostAgent:
    """The agent side of one simulated host."""

    __slots__ = ("bind", "conns", "held", "host", "hub", "port", "server", "sock", "subs")

    def __init__(self, host: Host, hub: Hub, bind: str, port: int) -> None:
        self.host = host
        self.hub = hub
        self.bind = bind
        self.port = port
        self.server: asyncio.base_events.Server | None = None
        self.sock: socket.socket | None = None
        self.conns: set[Connection] = set()
        self.subs: dict[str, dict[tuple[Connection, str], bytes]] = {}  # destination -> (conn, id) -> prefix
        self.held: list[bytes] = []  # events held back by events_reorder

    @property
    def address(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{'stomps' if self.hub.tls else 'stomp'}://{host}:{self.port}"

    # -- listening ----------------------------------------------------------------------

    def bind_socket(self) -> None:
        """Bind and listen now (connections queue in the backlog until serving starts)."""
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.bind, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"{self.host.name} at {self.bind}:{self.port}: {exc.strerror}") from exc
        self.port = sock.getsockname()[1]
        self.sock = sock

    async def serve(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        self.server = await asyncio.get_running_loop().create_server(
            lambda: Connection(self), sock=sock, ssl=self.hub.tls, ssl_handshake_timeout=10.0 if self.hub.tls else None,
            backlog=128)

    def stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def drop(self, reset: bool = True) -> None:
        """Close every open connection now (with a TCP reset when `reset`)."""
        for conn in list(self.conns):
            if reset and conn.transport is not None:
                sock = conn.transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.abort()

    # -- connections and subscriptions --------------------------------------------------

    def opened(self, conn: Connection) -> None:
        self.conns.add(conn)

    def lost(self, conn: Connection) -> None:
        self.conns.discard(conn)
        for sub_id, destination in conn.subs.items():
            self.unsubscribe(conn, sub_id, destination)
        conn.subs = {}

    def subscribe(self, conn: Connection, sub_id: str, destination: str, prefix: bytes) -> None:
        self.subs.setdefault(destination, {})[(conn, sub_id)] = prefix

    def unsubscribe(self, conn: Connection, sub_id: str, destination: str) -> None:
        subs = self.subs.get(destination)
        if subs is not None:
            subs.pop((conn, sub_id), None)
            if not subs:
                del self.subs[destination]

    def deliver(self, destination: str, body: bytes, truncate: bool = False) -> int:
        """One MESSAGE per subscription of `destination`; how many were sent."""
        subs = self.subs.get(destination)
        if not subs:
            return 0
        for (conn, _), prefix in list(subs.items()):
            if truncate:
                conn.truncated(prefix, body)
            else:
                conn.message(prefix, body)
        return len(subs)

    def heartbeats_stopped(self) -> bool:
        fault = self.host.fault
        return fault is not None and fault.kind == "no_heartbeat"

    # -- requests -----------------------------------------------------------------------

    def on_send(self, conn: Connection, frame: Frame) -> None:
        headers = frame.headers
        destination = headers.get("destination")
        if destination not in REQUESTS:
            if destination is not None and self.deliver(destination, frame.body):
                return
            conn.error("Subscription not available")
            return
        self.hub.request(self, frame.body, headers.get("reply-to"))


class Hub:
    """All host agents of one simulator, and how requests and events reach them."""

    def __init__(self, sim: Simulator, bind: str, port: int, port_base: int | None,
                 tls: ssl.SSLContext | None = None, max_frame: int = MAX_FRAME, out_limit: int = OUT_LIMIT) -> None:
        self.sim = sim
        self.tls = tls
        if tls is not None:
            small_tls_read_buffers()
        self.max_frame = max_frame
        self.out_limit = out_limit
        self.agents = [HostAgent(h, self, *agent_address(h.index, bind, port, port_base)) for h in sim.fleet.hosts]
        self.events = Events(sim, self.agents)
        sim.fleet.listeners.append(self.events.on_change)
        self.tasks: set[asyncio.Task[None]] = set()  # calls held back by a fault, listeners reopening

    async def start(self) -> None:
        for agent in self.agents:
            agent.bind_socket()
        await asyncio.gather(*(agent.serve() for agent in self.agents))  # one loop iteration, not one per host

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for agent in self.agents:
            agent.stop_listening()
            agent.drop(reset=False)

    def agent(self, host: Host) -> HostAgent:
        return self.agents[host.index]

    def connections(self) -> int:
        return sum(len(a.conns) for a in self.agents)

    # -- faults that act on the transport -----------------------------------------------

    def fault_set(self, host: Host, fault: faults.Fault) -> None:
        agent = self.agent(host)
        if fault.kind == "refuse":
            agent.stop_listening()
            agent.drop()
        elif fault.kind in ("drop", "restart"):  # a VDSM that restarts closes every connection
            agent.drop()

    def fault_cleared(self, host: Host, fault: faults.Fault) -> None:
        agent = self.agent(host)
        if fault.kind == "refuse" and agent.server is None and agent.sock is None:
            agent.bind_socket()  # connections queue in the backlog until the listener serves them
            self._keep(asyncio.get_running_loop().create_task(agent.serve()))
        if agent.held:
            self.events.flush(agent)

    # -- requests -----------------------------------------------------------------------

    def request(self, agent: HostAgent, body: bytes, reply_to: str | None) -> None:
        host = agent.host
        try:
            req: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            agent.deliver(RESPONSES, error_reply(None, PARSE_ERROR, "Parse error"))
            return
        fault = self.sim.current_fault(host)
        if fault is not None and fault.kind in faults.CALL_KINDS:
            first = req[0] if isinstance(req, list) and req else req
            verb = first.get("method") if isinstance(first, dict) else None
            if fault.applies(str(verb)):
                self._keep(asyncio.get_running_loop().create_task(self._faulty(agent, fault, req, reply_to)))
                return
        try:
            reply = self.sim.answer(host, req)
        except Exception:  # a bug in a verb: answer as VDSM does, keep the connection
            log.exception("%s: request failed", host.name)
            reply = error_reply(req.get("id") if isinstance(req, dict) else None, INTERNAL_ERROR,
                                "Internal JSON-RPC error")
        if reply is not None and reply_to is not None:
            agent.deliver(reply_to, reply)

    def _keep(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _faulty(self, agent: HostAgent, fault: faults.Fault, req: Any, reply_to: str | None) -> None:
        fault.used()
        if fault.kind == "hang" and fault.release is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(fault.release.wait(), fault.seconds)
        elif fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        reply = self.sim.faulty_answer(agent.host, fault, req)
        if reply is not None and reply_to is not None:
            agent.deliver(reply_to, reply, truncate=fault.kind == "truncated")

    def to_json(self) -> dict[str, Any]:
        return {"connections": self.connections(), "tls": self.tls is not None, "events_sent": self.events.sent,
                "events_lost": self.events.lost}
