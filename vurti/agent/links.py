"""The links of one process to the hosts it talks to: at most one per host, kept open, reopened with backoff.

Calls to a host share its link (no TLS handshake per poll). A link that cannot
be opened makes later calls fail at once, with the same error, until a backoff
(1 s doubling to BACKOFF_MAX) has passed: a dead host costs one connection
attempt per backoff, not one per poll, and its grace period runs as before
because every poll still gets its answer, unreachable. One watchdog per event
loop breaks links whose host fell silent past its heart-beat and closes links
nobody used for `IDLE_CLOSE` seconds (hosts removed, or moved to another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vurti.agent.address import AgentAddress, parse_address
from vurti.agent.errors import AgentCallError, AgentUnreachable
from vurti.agent.link import EventHandler, Link, open_link
from vurti.config import AgentSettings
from vurti.stomp.tls import small_tls_read_buffers

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 10.0
IDLE_CLOSE = 300.0
WATCH_PERIOD = 1.0


def make_tls(settings: AgentSettings) -> ssl.SSLContext:
    """TLS as the oVirt engine sets it up: the engine CA verifies the host's chain; no host-name check."""
    small_tls_read_buffers()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # the engine checks the chain and dates only (vdsm-stomp.md §1)
    if settings.verify_tls:
        context.verify_mode = ssl.CERT_REQUIRED
        if settings.ca_file:
            context.load_verify_locations(cafile=settings.ca_file)
        else:
            context.load_default_certs()
    else:
        context.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


@dataclass
class _Backoff:
    retry_at: float
    failures: int
    error: AgentCallError


class AgentLinks:
    """Links by agent URL, on the running event loop (one AgentLinks per loop)."""

    def __init__(
        self,
        settings: AgentSettings,
        on_event: EventHandler | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        """With `on_event`, every link subscribes to its host's events; `on_lost(url)` is told
        when such a link breaks or is closed (the host's events stopped)."""
        self._settings = settings
        self._on_event = on_event
        self._on_lost = on_lost
        self._links: dict[str, Link] = {}
        self._opening: dict[str, asyncio.Task[Link]] = {}
        self._backoff: dict[str, _Backoff] = {}
        self._addresses: dict[str, AgentAddress] = {}
        self._tls: ssl.SSLContext | None = None
        self._watchdog: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"AgentLinks(open={len(self._links)}, settings={self._settings!r})"

    @property
    def settings(self) -> AgentSettings:
        return self._settings

    def open_count(self) -> int:
        return sum(1 for link in self._links.values() if link.usable)

    def event_urls(self) -> set[str]:
        """URLs whose link is up and carries the host's events."""
        return {url for url, link in self._links.items() if link.usable and link.carries_events}

    def drop(self, url: str) -> None:
        """Close the link to `url` (its host moved to another process, or was removed)."""
        link = self._links.get(url)
        if link is not None:
            link.close()

    async def call(self, url: str, verb: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC call to the host at `url`; raises AgentCallError subclasses."""
        link = self._links.get(url)
        if link is None or not link.usable:
            link = await self._link(url, verb)
        return await link.call(verb, params)

    async def _link(self, url: str, verb: str) -> Link:
        opening = self._opening.get(url)
        if opening is None:
            backoff = self._backoff.get(url)
            now = asyncio.get_running_loop().time()
            if backoff is not None and now < backoff.retry_at:
                err = backoff.error
                raise type(err)(f"{verb}: {err.message} (next attempt in {backoff.retry_at - now:.1f} s)")
            opening = asyncio.ensure_future(self._open(url))
            self._opening[url] = opening
        try:
            return await asyncio.shield(opening)
        except AgentCallError as exc:
            raise type(exc)(f"{verb}: {exc.message}", code=exc.code) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if opening.cancelled() and task is not None and not task.cancelling():
                # close() cancelled the opening, not our caller: an answer, as for an open link
                raise AgentUnreachable(f"{verb}: connection to {url} closed by vurti") from None
            raise

    async def _open(self, url: str) -> Link:
        self._start_watchdog()
        loop = asyncio.get_running_loop()
        try:
            address = self._address(url)
            tls = self._tls_context() if address.tls else None
            link = await open_link(address, self._settings, tls, self._on_event)
        except AgentCallError as exc:
            previous = self._backoff.get(url)
            failures = previous.failures + 1 if previous else 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
            self._backoff[url] = _Backoff(loop.time() + delay, failures, exc)
            raise
        finally:
            self._opening.pop(url, None)
        self._backoff.pop(url, None)
        old = self._links.get(url)
        if old is not None and old is not link:
            old.close()
        link.on_lost = lambda lost: self._forget(url, lost)
        self._links[url] = link
        return link

    def _address(self, url: str) -> AgentAddress:
        address = self._addresses.get(url)
        if address is None:
            try:
                address = parse_address(url)
            except ValueError as exc:
                raise AgentUnreachable(f"invalid agent address: {exc}") from None
            self._addresses[url] = address
        return address

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = make_tls(self._settings)
            except (OSError, ssl.SSLError) as exc:
                raise AgentUnreachable(f"agent TLS files cannot be used: {exc}") from None
        return self._tls

    def _forget(self, url: str, link: Link) -> None:
        if self._links.get(url) is link:
            del self._links[url]
            if link.carries_events and self._on_lost is not None:
                self._on_lost(url)

    # -- watchdog -----------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._links or self._opening:
            await asyncio.sleep(WATCH_PERIOD)
            self.check(loop.time())

    def check(self, now: float) -> None:
        """Break silent links, close idle ones."""
        for link in list(self._links.values()):
            if link.rx_timeout is not None and now - link.last_rx > link.rx_timeout:
                link.fail(AgentUnreachable(
                    f"{link.where} silent for {now - link.last_rx:.1f} s (heart-beat every "
                    f"{link.rx_timeout / 1.5:g} s): connection dropped"))
            elif now - link.last_used > IDLE_CLOSE and not link.carries_events:
                link.close()

    async def close(self) -> None:
        """Close every link (in the loop that opened them)."""
        opening = list(self._opening.values())
        for task in opening:
            task.cancel()
        await asyncio.gather(*opening, return_exceptions=True)  # their callers hear it before close returns
        for link in list(self._links.values()):
            link.close()
        self._links.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
