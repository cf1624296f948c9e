"""VDSM-style `|virt|VM_status|<vmId>` events POSTed to a receiver as they happen.

Each body is a JSON-RPC notification signed with the sending host's own secret:
`X-Vurti-Signature: sha256=<hex HMAC-SHA256 of the body>`, with the host named in
`X-Vurti-Host`. The queue is bounded: when the receiver is slower than the fleet,
the oldest events are dropped and counted, never the server's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import deque
from typing import Any

import aiohttp
import orjson

from vurti.sim.fleet import Record
from vurti.sim.wire import status_details

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Vurti-Signature"
HOST_HEADER = "X-Vurti-Host"
QUEUE_LIMIT = 50_000


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def event_body(rec: Record) -> bytes:
    vm_id = rec.spec.vm_id
    return orjson.dumps({
        "jsonrpc": "2.0",
        "method": f"|virt|VM_status|{vm_id}",
        "params": {"notify_time": rec.host.status_time(), vm_id: status_details(rec)},
    })


class Pusher:
    """Queues events from fleet listeners and sends them with a few concurrent senders."""

    def __init__(self, url: str, senders: int = 8, timeout: float = 5.0) -> None:
        self.url = url
        self.senders = senders
        self.timeout = timeout
        self.queue: deque[tuple[str, str, bytes]] = deque(maxlen=QUEUE_LIMIT)
        self.wake = asyncio.Event()
        self.sent = self.failed = self.dropped = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None

    def on_change(self, rec: Record) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append((rec.host.name, rec.host.secret, event_body(rec)))
        self.wake.set()

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self.tasks = [asyncio.create_task(self._sender()) for _ in range(self.senders)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    async def _sender(self) -> None:
        assert self.session is not None
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            host, secret, body = self.queue.popleft()
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body), HOST_HEADER: host}
            try:
                async with self.session.post(self.url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        self.failed += 1
                        continue
                self.sent += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.failed += 1
                log.debug("push to %s failed: %s", self.url, exc)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "queued": len(self.queue), "sent": self.sent, "failed": self.failed,
                "dropped": self.dropped}
