"""The process's agent gateway: every call to a host goes over that host's link, on one event loop.

- AgentLinks (links.py): one persistent STOMP link per host, calls multiplexed on it.
- AsyncHostPoller: drives the poll sequence (steps.poll_steps: order,
  stop-at-first-failure, parsing, the report) over the links, many hosts at once.
- BatchPoller: the synchronous façade for worker threads and the CLI. One private
  event loop runs in a daemon thread, started on first use (so after any fork)
  and restarted in a forked child; `poll_many` submits a batch of polls and
  `call` a single call (VM.destroy) to it and blocks for the answer, so any
  number of threads may use it at once and all of them share the links.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from vurti.agent.errors import AgentCallError
from vurti.agent.link import EventHandler
from vurti.agent.links import AgentLinks
from vurti.agent.plan import PollRequest
from vurti.agent.steps import Call, PollSteps, poll_steps
from vurti.config import AgentSettings
from vurti.domain.report import HostReport

__all__ = ["AsyncHostPoller", "BatchPoller", "run_steps_async"]

T = TypeVar("T")
_CLOSE_TIMEOUT = 10.0  # seconds to wait for the loop to close its connections


async def run_steps_async(steps: PollSteps, call: Callable[[Call], Awaitable[Any]]) -> HostReport:
    """steps.run_steps with an awaitable call: the same protocol, driven from a coroutine."""
    try:
        request = next(steps)
        while True:
            try:
                result = await call(request)
            except AgentCallError as exc:
                request = steps.throw(exc)
            else:
                request = steps.send(result)
    except StopIteration as done:
        report: HostReport = done.value
        return report


class AsyncHostPoller:
    """One poll of one host, as data; many of them at once with `poll_many`."""

    def __init__(self, links: AgentLinks) -> None:
        self.links = links
        self._limit: asyncio.Semaphore | None = None

    async def poll_request(self, request: PollRequest) -> HostReport:
        def call(step: Call) -> Awaitable[Any]:
            return self.links.call(request.url, step.verb, step.params)

        return await run_steps_async(poll_steps(request), call)

    async def poll_many(self, requests: Sequence[PollRequest]) -> list[HostReport]:
        """All at once, at most pool_size hosts in flight (shared by every caller), reports in order.

        The bound is a semaphore rather than the connector's pool alone, so a host
        waiting for its turn does not spend its own total timeout in the queue.
        """
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.links.settings.pool_size)
        limit = self._limit

        async def one(request: PollRequest) -> HostReport:
            async with limit:
                return await self.poll_request(request)

        return list(await asyncio.gather(*(one(request) for request in requests)))

    async def close(self) -> None:
        await self.links.close()


class BatchPoller:
    """Synchronous, thread-safe `poll_many` on a private event loop in a daemon thread."""

    def __init__(
        self,
        settings: AgentSettings,
        on_event: EventHandler | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        """`on_event` and `on_lost` (AgentLinks) run on the loop thread: they must not block."""
        self._settings = settings
        self._on_event = on_event
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._poller: AsyncHostPoller | None = None
        self._pid = 0
        # What a forked child inherited: kept referenced, never closed. Closing (or garbage
        # collecting) it would unregister the parent's sockets from the epoll set both share.
        self._inherited: list[object] = []

    def __repr__(self) -> str:
        return f"BatchPoller(settings={self._settings!r})"

    def poll_many(self, requests: Sequence[PollRequest]) -> list[HostReport]:
        """Poll every request concurrently; reports in request order; agent trouble is in the reports."""
        if not requests:
            return []
        poller, loop = self._started()
        return self._run(loop, poller.poll_many(list(requests)))

    def poll(self, request: PollRequest) -> HostReport:
        return self.poll_many([request])[0]

    def call(self, url: str, verb: str, params: dict[str, Any] | None = None) -> Any:
        """One call on the host's link (raises AgentCallError subclasses), from any thread."""
        poller, loop = self._started()
        return self._run(loop, poller.links.call(url, verb, params))

    def open_links(self) -> int:
        """Links open now (benchmarks and diagnostics)."""
        poller = self._poller
        return poller.links.open_count() if poller is not None else 0

    def event_urls(self) -> set[str]:
        """URLs whose link is up and subscribed to the host's events."""
        poller, loop = self._started()
        return self._run(loop, _soon(poller.links.event_urls))

    def drop(self, urls: Sequence[str]) -> None:
        """Close these hosts' links (moved to another process, or removed)."""
        if urls:
            poller, loop = self._started()

            def drop_all() -> None:
                for url in urls:
                    poller.links.drop(url)

            self._run(loop, _soon(drop_all))

    def close(self) -> None:
        """Close the connections and stop the loop thread; a later call starts them again."""
        with self._lock:
            loop, thread, poller = self._loop, self._thread, self._poller
            self._loop = self._thread = self._poller = None
            if loop is None or thread is None or poller is None:
                return
            if self._pid != os.getpid():
                self._inherited.append((loop, thread, poller))  # the parent's: not ours to close
                return
        try:
            asyncio.run_coroutine_threadsafe(poller.close(), loop).result(_CLOSE_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CLOSE_TIMEOUT)
            if not thread.is_alive():
                loop.close()

    def _started(self) -> tuple[AsyncHostPoller, asyncio.AbstractEventLoop]:
        with self._lock:
            if self._loop is None or self._poller is None or self._pid != os.getpid():
                # First use, or first use in a forked child: the parent's loop thread does not
                # exist here and its sockets are the parent's; start afresh, leave those alone.
                if self._loop is not None:
                    self._inherited.append((self._loop, self._thread, self._poller))
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name="vurti-batch-poller", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._poller = AsyncHostPoller(AgentLinks(self._settings, self._on_event, self._on_lost))
            return self._poller, self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
        return future.result()


async def _soon(fn: Callable[[], T]) -> T:
    """Run `fn` on the loop (the links belong to it)."""
    return fn()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()
