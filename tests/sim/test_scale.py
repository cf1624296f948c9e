"""5,000 hosts x 20 VMs start within seconds, hold a connection per host, and fit in memory."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from tests.support.sim import running_sim
from vurti.stomp.frames import Frame, FrameParser, encode

HELLO = (encode("CONNECT", {"accept-version": "1.2", "host": "null", "heart-beat": "0,15000"})
         + encode("SUBSCRIBE", {"destination": "jms.queue.events", "id": "events", "ack": "auto"}))


class _Engine(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = FrameParser(1 << 20)
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(HELLO)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        for frame in self.parser.feed(data):
            self.frames.put_nowait(frame)


async def _connect_all(addresses: list[str]) -> list[_Engine]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)

    async def one(address: str) -> _Engine:
        url = urlsplit(address)
        async with gate:
            _, engine = await loop.create_connection(_Engine, url.hostname, url.port)
            frame = await asyncio.wait_for(engine.frames.get(), 30)
            assert frame.command == "CONNECTED" and frame.headers["heart-beat"] == "15000,0"
            return engine

    return await asyncio.gather(*(one(a) for a in addresses))


def test_five_thousand_hosts_start_quickly_hold_a_connection_each_and_stay_small() -> None:
    with running_sim(hosts=5000, vms_per_host=20, seed=1, timeout=60) as sim:
        health = sim.control.health()
        assert health["hosts"] == 5000 and health["vms"] == 100_000
        assert len(sim.result("host-5000", "Host.getAllVmStats")) == 20
        rss_mb = sim.rss_bytes() / 2**20
        print(f"\n5000 hosts x 20 VMs: startup {sim.startup_seconds:.2f} s, RSS {rss_mb:.0f} MiB")
        assert sim.startup_seconds < 30
        assert rss_mb < 1536

        async def hold() -> float:
            engines = await _connect_all(sim.host_addresses)
            try:
                assert sim.control.health()["agents"]["connections"] >= 5000
                return sim.rss_bytes() / 2**20
            finally:
                for engine in engines:
                    if engine.transport is not None:
                        engine.transport.close()

        held_mb = asyncio.run(hold())
        print(f"with 5000 connections open: RSS {held_mb:.0f} MiB")
        assert held_mb < 1536
