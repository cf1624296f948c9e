"""The control API under /control/: the fleet's true state, VM actions, faults and ticks.

A bearer token guards it when one is configured (always when the server is bound
to anything but loopback). Actions on a VM in the wrong state answer 409.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from vurti.sim import actions, conditions
from vurti.sim import devices as sim_devices
from vurti.sim.faults import parse_fault
from vurti.sim.fleet import Record, VmSpec, seeded_uuid
from vurti.sim.wire import vdsm_status

if TYPE_CHECKING:
    from vurti.sim.server import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _fail(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return cls(body=orjson.dumps({"error": message}), content_type="application/json")


def record_json(rec: Record) -> dict[str, Any]:
    data: dict[str, Any] = {
        "host": rec.host.name, "status": rec.status.name, "vdsm_status": vdsm_status(rec),
        "pause_code": rec.pause_code, "monitor_ok": rec.monitor_ok, "watchdog": rec.watchdog,
        "jobs": sim_devices.vm_jobs(rec),
    }
    if rec.status.name == "Down":
        data.update(exit_code=rec.exit_code, exit_reason=rec.exit_reason, exit_message=rec.exit_message)
    mig = rec.migration
    if mig is not None:
        data["migration"] = {"source": mig.source.host.name, "destination": mig.destination.host.name,
                             "mode": mig.mode, "progress": mig.progress, "phase": mig.phase}
    return data


def vm_json(spec: VmSpec, with_devices: bool = False) -> dict[str, Any]:
    """A VM's truth and records; its device list only when asked for one VM (lists stay small)."""
    listed, device_hash = sim_devices.devices(spec)
    data = {"vm_id": spec.vm_id, "name": spec.name, "truth": actions.truth(spec),
            "records": [record_json(r) for r in spec.records], "hash": device_hash}
    if with_devices:
        data["devices"] = listed
    return data


class Control:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.fleet = sim.fleet

    def _host(self, name: str) -> Any:
        host = self.fleet.by_name.get(name)
        if host is None:
            raise _fail(404, f"no such host: {name}")
        return host

    def _spec(self, vm_id: str) -> VmSpec:
        spec = self.fleet.vms.get(vm_id)
        if spec is None:
            raise _fail(404, f"no such VM: {vm_id}")
        return spec

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _fail(400, f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _fail(400, "body must be a JSON object")
        return data

    def host_json(self, host: Any, with_vms: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": host.name, "uuid": host.uuid, "cluster": host.cluster,
            "address": self.sim.hub.agent(host).address, "connections": len(self.sim.hub.agent(host).conns),
            "boot_time": str(host.boot_time), "vm_count": len(host.records), "vdsm": host.vdsm_version,
            "calls": dict(host.calls),
            "fault": host.fault.to_json() if host.fault is not None else None,
            "nic_states": host.nic_states, "usage": host.usage, "capabilities": host.caps,
        }
        if with_vms:
            data["vms"] = {vm_id: record_json(r) for vm_id, r in host.records.items()}
        return data

    # -- routes ------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return _ok({"ok": True, "hosts": len(self.fleet.hosts), "vms": len(self.fleet.vms), "tick": self.fleet.tick,
                    "seed": self.fleet.seed, "churn": self.sim.life.churn,
                    "agents": self.sim.hub.to_json()})

    async def hosts(self, request: web.Request) -> web.Response:
        with_vms = request.query.get("vms") in ("1", "true")
        return _ok([self.host_json(h, with_vms) for h in self.fleet.hosts])

    async def host(self, request: web.Request) -> web.Response:
        return _ok(self.host_json(self._host(request.match_info["name"]), with_vms=True))

    async def set_fault(self, request: web.Request) -> web.Response:
        host = self._host(request.match_info["name"])
        try:
            fault = parse_fault(await self._body(request))
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        self.sim.set_fault(host, fault)
        return _ok(self.host_json(host))

    async def clear_fault(self, request: web.Request) -> web.Response:
        host = self._host(request.match_info["name"])
        self.sim.clear_fault(host)
        return _ok(self.host_json(host))

    async def set_nic(self, request: web.Request) -> web.Response:
        """A host NIC goes down or up (Host.getStats' network.<nic>.state)."""
        host = self._host(request.match_info["name"])
        try:
            state = conditions.parse_nic_state(await self._body(request))
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        host.nic_states[request.match_info["nic"]] = state
        host.touch()
        return _ok(self.host_json(host))

    async def set_usage(self, request: web.Request) -> web.Response:
        """Push the host's CPU, memory, swap, disk or NIC usage (Host.getStats) to given figures."""
        host = self._host(request.match_info["name"])
        try:
            usage = conditions.parse_usage(await self._body(request))
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        host.usage = conditions.merge(host.usage, usage)
        host.touch()
        return _ok(self.host_json(host))

    async def set_capabilities(self, request: web.Request) -> web.Response:
        """Change the host's capabilities while it runs; VDSM then hints `|net|host_conn|`."""
        host = self._host(request.match_info["name"])
        try:
            caps = conditions.parse_capabilities(await self._body(request))
        except ValueError as exc:
            raise _fail(400, str(exc)) from exc
        host.caps = conditions.merge(host.caps, caps)
        host.touch()
        self.sim.hub.events.capabilities_changed(host)
        return _ok(self.host_json(host))

    async def vms(self, request: web.Request) -> web.Response:
        name = request.query.get("host")
        specs = ([r.spec for r in self._host(name).records.values()] if name else list(self.fleet.vms.values()))
        return _ok([vm_json(s) for s in specs])

    async def vm(self, request: web.Request) -> web.Response:
        return _ok(vm_json(self._spec(request.match_info["vm_id"]), with_devices=True))

    async def create_vm(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        host = self._host(str(body.get("host", self.fleet.hosts[0].name)))
        self.sim.created += 1
        rng = random.Random(f"{self.fleet.seed}/created/{self.sim.created}")
        spec = VmSpec(seeded_uuid(rng), str(body.get("name") or f"vm-new-{self.sim.created:04d}"), host.index, rng)
        spec.vnc_port = 5900 + len(host.records)
        self.fleet.vms[spec.vm_id] = spec
        if body.get("start", True):
            actions.start(self.fleet, spec, host)
        else:
            host.parked.append(spec)
        return _ok(vm_json(spec), status=201)

    async def vm_action(self, request: web.Request) -> web.Response:
        spec = self._spec(request.match_info["vm_id"])
        action = request.match_info["action"]
        body = await self._body(request)
        try:
            self._do(spec, action, body)
        except actions.ActionError as exc:
            raise _fail(409, str(exc)) from exc
        return _ok(vm_json(spec, with_devices=True))

    def _do(self, spec: VmSpec, action: str, body: dict[str, Any]) -> None:
        fleet = self.fleet
        if action == "start":
            fail = body.get("fail")
            actions.start(fleet, spec, self._host(str(body.get("host") or fleet.hosts[spec.home].name)),
                          None if fail is None else str(fail))
            return
        rec = actions.running_record(spec)
        if rec is None:
            raise actions.ActionError(f"VM {spec.vm_id} is not running")
        if action == "stop":
            actions.stop(fleet, rec, str(body.get("by", "admin")))
        elif action == "pause":
            actions.pause(fleet, rec, body.get("code"))
        elif action == "resume":
            actions.resume(fleet, rec)
        elif action == "crash":
            actions.crash(fleet, rec, int(body.get("reason", 2)), str(body.get("message", "")))
        elif action == "migrate":
            if "to" not in body:
                raise _fail(400, "migrate needs 'to': the destination host")
            actions.migrate(fleet, rec, self._host(str(body["to"])), str(body.get("mode", "precopy")),
                            int(body.get("steps", actions.MIGRATION_STEPS)),
                            int(body.get("postcopy_ticks") or actions.POSTCOPY))
        elif action == "reboot":
            actions.reboot(fleet, rec)
        elif action == "hibernate":
            actions.hibernate(fleet, rec)
        elif action == "not_responding":
            actions.not_responding(fleet, rec, int(body.get("ticks", 0)))
        elif action == "responding":
            actions.responding(fleet, rec)
        elif action == "watchdog":
            actions.watchdog(fleet, rec, str(body.get("action", "reset")))
        elif action == "hotplug":
            actions.hotplug(fleet, rec, str(body.get("kind", "disk")))
        elif action == "unplug":
            if "device_id" not in body:
                raise _fail(400, "unplug needs 'device_id'")
            actions.unplug(fleet, rec, str(body["device_id"]))
        elif action == "block_job":
            actions.block_job(fleet, rec, str(body.get("kind", "commit")), int(body.get("steps", 3)))
        else:
            raise _fail(404, f"unknown action {action!r}")

    async def truth(self, request: web.Request) -> web.Response:
        return _ok({vm_id: actions.truth(spec) for vm_id, spec in self.fleet.vms.items()})

    async def destroys(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        return _ok(list(self.fleet.destroys)[since:])

    async def history(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        limit = int(request.query.get("limit", 100_000))
        rows = [{"seq": s, "tick": t, "host": h, "vm_id": v, "what": w, "detail": d}
                for s, t, h, v, w, d in self.fleet.history if s > since]
        return _ok(rows[:limit])

    async def tick(self, request: web.Request) -> web.Response:
        n = int((await self._body(request)).get("n", 1))
        if not 0 <= n <= 100_000:
            raise _fail(400, "n must be within 0..100000")
        self.sim.advance(n)
        return _ok({"tick": self.fleet.tick})


def auth_middleware(token: str | None) -> Any:
    expected = f"Bearer {token}" if token else None

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None and request.path.startswith("/control/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise _fail(401, "missing or wrong bearer token")
        return await handler(request)

    return check


def add_control_routes(app: web.Application, sim: Simulator) -> None:
    c = Control(sim)
    app.middlewares.append(auth_middleware(sim.config.control_token))
    r = app.router
    r.add_get("/control/health", c.health)
    r.add_get("/control/hosts", c.hosts)
    r.add_get("/control/hosts/{name}", c.host)
    r.add_put("/control/hosts/{name}/fault", c.set_fault)
    r.add_delete("/control/hosts/{name}/fault", c.clear_fault)
    r.add_put("/control/hosts/{name}/nics/{nic}", c.set_nic)
    r.add_put("/control/hosts/{name}/usage", c.set_usage)
    r.add_put("/control/hosts/{name}/capabilities", c.set_capabilities)
    r.add_get("/control/vms", c.vms)
    r.add_post("/control/vms", c.create_vm)
    r.add_get("/control/vms/{vm_id}", c.vm)
    r.add_post("/control/vms/{vm_id}/{action}", c.vm_action)
    r.add_get("/control/truth", c.truth)
    r.add_get("/control/destroys", c.destroys)
    r.add_get("/control/history", c.history)
    r.add_post("/control/tick", c.tick)
