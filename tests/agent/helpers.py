"""Small helpers for the transport tests: fast settings, async tests, waiting on conditions."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from vurti.agent.link import EventHandler
from vurti.agent.links import AgentLinks
from vurti.config import AgentSettings

FAST = AgentSettings(connect_timeout=1.0, read_timeout=2.0, max_reply_bytes=1024 * 1024, pool_size=4)
TEST_DEADLINE = 30.0  # no async test may run longer, whatever it waits on


def aio(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test function in a fresh event loop (fixtures still come by name)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), TEST_DEADLINE))

    return run


async def until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:  # noqa: ASYNC109 - a deadline for polling, not a cancellation
    """Await `condition()` becoming true, checking every few ms; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@asynccontextmanager
async def agent_links(settings: AgentSettings = FAST, on_event: EventHandler | None = None) -> AsyncIterator[AgentLinks]:
    links = AgentLinks(settings, on_event)
    try:
        yield links
    finally:
        await links.close()


def closed_port_url(scheme: str = "stomp") -> str:
    """An address on 127.0.0.1 where nothing listens (any more)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"
