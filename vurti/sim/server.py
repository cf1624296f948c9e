"""The simulator process: every host's VDSM agent endpoint (STOMP) and the control API (HTTP).

Each host listens on its own address (`vurti.sim.agents`) and speaks JSON-RPC
over STOMP 1.2 as VDSM does; the control API is an aiohttp app on one port. The
life model advances on a fixed-period timer (or only through `POST
/control/tick` when `tick_seconds` is 0), so what happens never depends on when
requests arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from vurti.sim import faults
from vurti.sim.agents import AGENT_PORT, MAX_FRAME, Hub
from vurti.sim.fleet import Fleet, Host
from vurti.sim.life import Life
from vurti.sim.rpc import INVALID_REQUEST, Rpc, RpcError, error_reply, reply

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
    control_token: str | None = None
    tick_seconds: float = 1.0
    postcopy_share: float = 0.1
    legacy_hosts: int = 0  # the first N hosts run VDSM 4.30 (devices in Host.getVMFullList, no Host.dumpxmls)
    render_cache: bool = True
    agent_port: int = AGENT_PORT  # every host on its own loopback address, this port (0: any free port)
    agent_port_base: int | None = None  # else every host on `bind`, host i at port base + i - 1
    tls_dir: str | None = None  # TLS with a client certificate; the PKI is created there when missing
    max_frame: int = MAX_FRAME


def is_loopback(bind: str) -> bool:
    return bind in ("127.0.0.1", "::1", "localhost") or bind.startswith("127.")


class Simulator:
    """Fleet, life, verbs and agent endpoints of one simulator process."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.fleet = Fleet(config.seed, config.hosts, config.vms_per_host, config.clusters, config.legacy_hosts)
        self.life = Life(self.fleet, config.churn, config.postcopy_share)
        self.rpc = Rpc(self.fleet, config.render_cache)
        tls = None
        if config.tls_dir:
            from vurti.sim.pki import ensure_pki, server_context

            tls = server_context(ensure_pki(config.tls_dir))
        self.hub = Hub(self, config.bind, config.agent_port, config.agent_port_base, tls, config.max_frame)
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
        if fault.kind == "drop":  # happens once; the host keeps its current fault
            self.hub.fault_set(host, fault)
            return
        self.clear_fault(host)
        if fault.kind == "restart":
            host.reboot_clock(uptime_s=int(fault.seconds) + 5)
            self.fleet.record_event(host.name, "", "agent_restart", str(host.boot_time))
        host.fault = fault
        self.hub.fault_set(host, fault)

    def clear_fault(self, host: Host) -> None:
        old = host.fault
        host.fault = None
        if old is not None:
            if old.release is not None:
                old.release.set()
            self.hub.fault_cleared(host, old)

    def current_fault(self, host: Host) -> faults.Fault | None:
        """The host's fault, cleared first when it has run out."""
        fault = host.fault
        if fault is not None and fault.expired(time.monotonic()):
            self.clear_fault(host)
            return None
        return fault

    # -- JSON-RPC ---------------------------------------------------------------------

    def answer(self, host: Host, req: Any) -> bytes | None:
        """The reply to one parsed request; None for a batch of two or more (VDSM fails to reply to those)."""
        if isinstance(req, list):
            if not req:
                return error_reply(None, INVALID_REQUEST, "Invalid request")
            replies = [self.answer_one(host, r) for r in req]
            return replies[0] if len(replies) == 1 else None
        return self.answer_one(host, req)

    def answer_one(self, host: Host, r: Any) -> bytes:
        if not isinstance(r, dict) or "method" not in r:
            return error_reply(r.get("id") if isinstance(r, dict) else None, INVALID_REQUEST, "Invalid request")
        try:
            return reply(r.get("id"), self.rpc.call(host, r["method"], r.get("params")))
        except RpcError as exc:
            return error_reply(r.get("id"), exc.code, exc.message)

    def faulty_answer(self, host: Host, fault: faults.Fault, req: Any) -> bytes | None:
        """The reply a call fault makes of a request (after any hang or delay)."""
        if isinstance(req, list) and len(req) != 1:
            return self.answer(host, req)
        first = req[0] if isinstance(req, list) else req
        kind = fault.kind
        if kind in ("recovering", "restart", "jsonrpc_error"):
            return error_reply(first.get("id") if isinstance(first, dict) else None, fault.code, fault.message)
        normal = self.answer(host, req)
        if normal is None:
            return None
        if kind == "malformed":
            return faults.malformed(normal)
        if kind == "huge":
            return faults.huge(normal, fault.size)
        if kind in ("wrong_types", "unknown_status"):
            obj = orjson.loads(normal)
            if isinstance(obj, dict) and "result" in obj:
                verb = str(first.get("method")) if isinstance(first, dict) else ""
                obj["result"] = (faults.wrong_types(verb, obj["result"]) if kind == "wrong_types"
                                 else faults.unknown_status(obj["result"], fault.status, fault.vm_id))
            return orjson.dumps(obj)
        return normal  # hang, slow; truncated is cut on the wire

    # -- application ------------------------------------------------------------------

    def make_app(self) -> web.Application:
        from vurti.sim.control import add_control_routes

        app = web.Application(client_max_size=8 * 1024 * 1024)
        add_control_routes(app, self)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
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


async def serve(config: SimConfig, ready: Any = print) -> None:
    """Run until SIGTERM or SIGINT; `ready` is told where the control API and the agents listen."""
    started = time.monotonic()
    sim = Simulator(config)
    await sim.hub.start()  # every agent listens before the control API says the fleet is up
    runner = web.AppRunner(sim.make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.bind, config.port, backlog=4096, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = f"[{config.bind}]" if ":" in config.bind else config.bind
    agents = sim.hub.agents
    where = agents[0].address + (f" ... {agents[-1].address}" if len(agents) > 1 else "")
    ready(f"vurti sim listening on http://{host}:{config.port}/ (control API); agents at {where} "
          f"({config.hosts} hosts x {config.vms_per_host} VMs, seed {config.seed}, churn {config.churn}/host/min, "
          f"started in {time.monotonic() - started:.2f}s)")
    try:
        await stop.wait()
    finally:
        for h in sim.fleet.hosts:  # release hung requests so shutdown does not wait for them
            if h.fault is not None:
                sim.clear_fault(h)
        await sim.hub.stop()
        await runner.cleanup()
