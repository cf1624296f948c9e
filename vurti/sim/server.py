"""The simulator process: one aiohttp server for every host's JSON-RPC endpoint and the control API.

Hosts answer at `/hosts/<name>/`; the life model advances on a fixed-period
timer (or only through `POST /control/tick` when `tick_seconds` is 0), so what
happens never depends on when requests arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from vurti.sim import faults
from vurti.sim.fleet import Fleet, Host
from vurti.sim.life import Life
from vurti.sim.push import Pusher
from vurti.sim.rpc import INVALID_REQUEST, PARSE_ERROR, Rpc, RpcError, error_reply, reply

log = logging.getLogger(__name__)
MAX_TICK_CATCH_UP = 100


@dataclass(frozen=True)
class SimConfig:
    hosts: int = 10
    vms_per_host: int = 20
    seed: int = 1
    port: int = 8700
    bind: str = "127.0.0.1"
    churn: float = 0.0
    clusters: int = 1
    push_url: str | None = None
    control_token: str | None = None
    tick_seconds: float = 1.0
    postcopy_share: float = 0.1
    render_cache: bool = True


def is_loopback(bind: str) -> bool:
    return bind in ("127.0.0.1", "::1", "localhost") or bind.startswith("127.")


class Simulator:
    """Fleet, life, verbs and push of one simulator process."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.fleet = Fleet(config.seed, config.hosts, config.vms_per_host, config.clusters)
        self.life = Life(self.fleet, config.churn, config.postcopy_share)
        self.rpc = Rpc(self.fleet, config.render_cache)
        self.pusher = Pusher(config.push_url) if config.push_url else None
        if self.pusher is not None:
            self.fleet.listeners.append(self.pusher.on_change)
        self.created = 0

    # -- time -------------------------------------------------------------------------

    def advance(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.fleet.step(self.life.step)

    async def ticker(self) -> None:
        period = self.config.tick_seconds
        t0, done = time.monotonic(), 0
        while True:
            await asyncio.sleep(max(0.0, t0 + (done + 1) * period - time.monotonic()))
            target = int((time.monotonic() - t0) / period)
            steps = max(0, min(target - done, MAX_TICK_CATCH_UP))
            self.advance(steps)
            done += steps
            if target > done:  # too far behind: drop the lag rather than burst
                t0 = time.monotonic() - done * period

    # -- faults -----------------------------------------------------------------------

    def set_fault(self, host: Host, fault: faults.Fault) -> None:
        self.clear_fault(host)
        if fault.kind == "restart":
            host.reboot_clock(uptime_s=int(fault.seconds) + 5)
            self.fleet.record_event(host.name, "", "agent_restart", str(host.boot_time))
        host.fault = fault

    def clear_fault(self, host: Host) -> None:
        old = host.fault
        host.fault = None
        if old is not None and old.release is not None:
            old.release.set()

    # -- JSON-RPC ---------------------------------------------------------------------

    async def handle_rpc(self, request: web.Request) -> web.StreamResponse:
        host = self.fleet.by_name.get(request.match_info["name"])
        if host is None:
            return web.Response(status=404, text="no such host\n")
        body = await request.read()
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            req = None
            parsed = False
        else:
            parsed = True
        fault = host.fault
        if fault is not None and fault.expired(time.monotonic()):
            self.clear_fault(host)
            fault = None
        first = req[0] if isinstance(req, list) and req else req
        verb = first.get("method") if isinstance(first, dict) else None
        if fault is not None and fault.applies(str(verb)):
            return await self._faulty(request, host, fault, req, parsed)
        if not parsed:
            return _json(error_reply(None, PARSE_ERROR, "Parse error"))
        return _json(self.answer(host, req))

    def answer(self, host: Host, req: Any) -> bytes:
        if isinstance(req, list):
            if not req:
                return error_reply(None, INVALID_REQUEST, "Invalid request")
            replies = [self.answer_one(host, r) for r in req]
            return replies[0] if len(replies) == 1 else b"[" + b",".join(replies) + b"]"
        return self.answer_one(host, req)

    def answer_one(self, host: Host, r: Any) -> bytes:
        if not isinstance(r, dict) or "method" not in r:
            return error_reply(r.get("id") if isinstance(r, dict) else None, INVALID_REQUEST, "Invalid request")
        try:
            return reply(r.get("id"), self.rpc.call(host, r["method"], r.get("params")))
        except RpcError as exc:
            return error_reply(r.get("id"), exc.code, exc.message)

    async def _faulty(self, request: web.Request, host: Host, fault: faults.Fault, req: Any,
                      parsed: bool) -> web.StreamResponse:
        fault.used()
        kind = fault.kind
        if kind == "refuse":
            _reset(request)
            return web.Response(status=500)
        if kind == "hang" and fault.release is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(fault.release.wait(), fault.seconds)
        elif kind == "slow":
            await asyncio.sleep(fault.seconds)
        first = req[0] if isinstance(req, list) and req else req
        req_id = first.get("id") if isinstance(first, dict) else None
        if kind in ("recovering", "restart", "jsonrpc_error"):
            return _json(error_reply(req_id, fault.code, fault.message))
        normal = self.answer(host, req) if parsed else error_reply(None, PARSE_ERROR, "Parse error")
        if kind == "malformed":
            return _json(faults.malformed(normal))
        if kind == "truncated":
            return _json(faults.truncated(normal))
        if kind == "huge":
            return _json(faults.huge(normal, fault.size))
        if kind in ("wrong_types", "unknown_status"):
            obj = orjson.loads(normal)
            if isinstance(obj, dict) and "result" in obj:
                verb = str(first.get("method")) if isinstance(first, dict) else ""
                obj["result"] = (faults.wrong_types(verb, obj["result"]) if kind == "wrong_types"
                                 else faults.unknown_status(obj["result"], fault.status, fault.vm_id))
            return _json(orjson.dumps(obj))
        return _json(normal)

    # -- application ------------------------------------------------------------------

    def make_app(self) -> web.Application:
        from vurti.sim.control import add_control_routes

        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/hosts/{name}/", self.handle_rpc)
        app.router.add_post("/hosts/{name}", self.handle_rpc)
        add_control_routes(app, self)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        if self.pusher is not None:
            await self.pusher.start()
        if self.config.tick_seconds > 0:
            app["ticker"] = asyncio.create_task(self.ticker())

    async def _on_cleanup(self, app: web.Application) -> None:
        task = app.get("ticker")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for host in self.fleet.hosts:
            if host.fault is not None:
                self.clear_fault(host)
        if self.pusher is not None:
            await self.pusher.stop()


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP reset and no response."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def serve(config: SimConfig, ready: Any = print) -> None:
    """Run until SIGTERM or SIGINT; `ready` is told the base URL once listening."""
    started = time.monotonic()
    sim = Simulator(config)
    runner = web.AppRunner(sim.make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.bind, config.port, backlog=4096, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = f"[{config.bind}]" if ":" in config.bind else config.bind
    ready(f"vurti sim listening on http://{host}:{config.port}/ ({config.hosts} hosts x {config.vms_per_host} VMs, "
          f"seed {config.seed}, churn {config.churn}/host/min, started in {time.monotonic() - started:.2f}s)")
    try:
        await stop.wait()
    finally:
        for h in sim.fleet.hosts:  # release hung requests so shutdown does not wait for them
            if h.fault is not None:
                sim.clear_fault(h)
        await runner.cleanup()
