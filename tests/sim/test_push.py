"""Pushed |virt|VM_status| events reach a receiver, signed with the host's own secret."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.support.procs import free_port, wait_for
from tests.support.sim import running_sim
from vurti.sim.push import HOST_HEADER, SIGNATURE_HEADER, verify


class Receiver:
    """A small aiohttp server in a thread that keeps what it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/events", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.runner = runner
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Receiver:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_status_events_arrive_signed(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/events"
    with running_sim(hosts=2, vms_per_host=2, seed=9, push_url=url) as sim:
        host = "host-0001"
        vm_id = sim.result(host, "Host.getVMList")[0]["vmId"]
        sim.control.crash(vm_id, message="Lost connection with qemu process")
        wait_for(lambda: receiver.received, timeout=10, what="a pushed event")
        headers, body = receiver.received[0]
        secret = sim.control.push_secret(host)
        assert headers[HOST_HEADER] == host
        assert verify(secret, body, headers[SIGNATURE_HEADER])
        assert not verify(sim.control.push_secret("host-0002"), body, headers[SIGNATURE_HEADER])
        event = orjson.loads(body)
        assert event["jsonrpc"] == "2.0" and "id" not in event
        assert event["method"] == f"|virt|VM_status|{vm_id}"
        params = event["params"]
        assert isinstance(params["notify_time"], int) and params["notify_time"] > 2**31 - 1
        assert params[vm_id]["status"] == "Down" and params[vm_id]["exitCode"] == 1
        status_time = int(sim.result(host, "Host.getVMList")[0]["statusTime"])
        assert params["notify_time"] <= status_time  # same clock as statusTime


def test_events_follow_a_migration(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/events"
    with running_sim(hosts=2, vms_per_host=1, seed=9, push_url=url) as sim:
        vm_id = sim.result("host-0001", "Host.getVMList")[0]["vmId"]
        sim.control.migrate(vm_id, to="host-0002", steps=1)
        sim.control.tick(4)

        def statuses() -> list[tuple[str, str]]:
            return [(h[HOST_HEADER], orjson.loads(b)["params"][vm_id]["status"]) for h, b in receiver.received]

        wait_for(lambda: len(statuses()) >= 4, timeout=10, what="migration events")
        assert statuses() == [("host-0001", "Migration Source"), ("host-0002", "Migration Destination"),
                              ("host-0002", "Up"), ("host-0001", "Down")]
