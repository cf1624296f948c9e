"""JSON-RPC 2.0 over HTTP POST to host agents on asyncio (aiohttp), for polling many hosts at once.

The same contract as client.AgentClient (same envelope, same reply checks from
jsonrpc.py, same AgentCallError for the same failure), at about a third of the
CPU per call, so one process can poll a whole batch of hosts concurrently.
Differences that are deliberate:

- Timeouts: `sock_connect=connect_timeout` (TCP connect and TLS handshake),
  `sock_read=read_timeout` (longest silence while waiting for or reading the
  reply), as requests has them; plus a ceiling of connect_timeout + read_timeout
  on the whole call (`total`), so an agent that trickles a byte now and then
  cannot hold a connection for ever. All three raise AgentTimeout.
- The session is created lazily inside the running loop and belongs to that
  loop: one AsyncAgentClient per event loop (BatchPoller keeps one loop).
- Cookies are ignored (DummyCookieJar): agents set none, and the jar costs CPU.
- Idle keep-alive connections are not bounded by pool_size (aiohttp's `limit`
  bounds connections in use); they close after aiohttp's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from vurti.agent.errors import AgentCallError, AgentTimeout, AgentUnreachable, ProtocolError
from vurti.agent.jsonrpc import (
    CHUNK,
    HEADERS,
    SNIPPET,
    declared_too_large,
    encode_request,
    http_status_error,
    read_too_large,
    unwrap_reply,
)
from vurti.config import AgentSettings, redact_url


def make_ssl(settings: AgentSettings) -> ssl.SSLContext | bool:
    """The TLS trust of make_session: the CA file alone when given, else certifi's bundle, as requests."""
    if not settings.verify_tls and not settings.cert_file:
        return False
    if settings.verify_tls:
        context = ssl.create_default_context(cafile=settings.ca_file or _default_ca_bundle())
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


def _default_ca_bundle() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests depends on certifi
        return None
    return str(certifi.where())


def make_timeout(settings: AgentSettings) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=settings.connect_timeout + settings.read_timeout,
        connect=None,  # waiting for a free pooled connection is bounded by `total` only
        sock_connect=settings.connect_timeout,
        sock_read=settings.read_timeout,
    )


class AsyncAgentClient:
    """Calls one JSON-RPC verb on an agent and returns the bare `result` (awaitable)."""

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"AsyncAgentClient(settings={self._settings!r})"

    @property
    def settings(self) -> AgentSettings:
        return self._settings

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None:
            if loop is not self._loop:
                raise RuntimeError("an AsyncAgentClient is bound to the event loop it first ran in")
            return self._session
        connector = aiohttp.TCPConnector(limit=self._settings.pool_size, ssl=make_ssl(self._settings))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=make_timeout(self._settings),
            headers=HEADERS,
            trust_env=False,  # proxy variables and .netrc must not redirect agent traffic
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        self._loop = loop
        return self._session

    async def call(self, url: str, verb: str, params: dict[str, Any] | None = None) -> Any:
        """POST one request to the agent's base URL; raise AgentCallError subclasses."""
        request_id = next(self._ids)
        body = encode_request(request_id, verb, params)
        session = self._open()
        reading = False
        try:
            resp = await session.post(url, data=body, allow_redirects=False)
            reading = True
            data = await self._read(resp, url)
        except AgentCallError:
            raise
        except (aiohttp.ClientError, OSError, ValueError) as exc:  # TimeoutError is an OSError
            raise translate(exc, verb, url, reading=reading, settings=self._settings) from exc
        return unwrap_reply(data, request_id, verb, url)

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        complete = False
        try:
            if resp.status != 200:
                raise http_status_error(resp.status, url, await resp.content.read(SNIPPET))
            limit = self._settings.max_reply_bytes
            too_large = declared_too_large(resp.headers.get("Content-Length"), limit, url)
            if too_large is not None:
                raise too_large
            chunks: list[bytes] = []
            total = 0
            while True:
                chunk = await resp.content.read(min(CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise read_too_large(total, limit, url)
            complete = True
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            if complete:
                resp.release()
            else:
                resp.close()  # drop the connection: its unread rest must not be reused

    async def close(self) -> None:
        """Close the session and its connections (in the loop that opened them)."""
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()


def translate(
    exc: BaseException, verb: str, url: str, *, reading: bool, settings: AgentSettings
) -> AgentCallError:
    """Map an aiohttp/ssl/socket exception onto the agent error hierarchy, as client._translate does."""
    where = f"{verb} to {redact_url(url)}"
    reason = _without_password(str(exc), url)[:300] or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return AgentTimeout(f"{where}: connect timeout: {reason}")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return AgentTimeout(f"{where}: read timeout: {reason}")
    if isinstance(exc, asyncio.TimeoutError):
        total = settings.connect_timeout + settings.read_timeout
        return AgentTimeout(f"{where}: timeout: no complete reply within {total:g} s")
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError, ssl.CertificateError)):
        return AgentUnreachable(f"{where}: TLS failure: {reason}")
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)) or (
        isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError)
    ):
        return AgentUnreachable(f"{verb}: invalid agent URL {redact_url(url)!r}")
    if reading and isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError)):
        return ProtocolError(f"{where}: reply broken off: {reason}")
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return AgentUnreachable(f"{where}: {reason}")
    return ProtocolError(f"{where}: {type(exc).__name__}: {reason}")


def _without_password(text: str, url: str) -> str:
    """aiohttp quotes the request URL in some messages (ClientResponseError): keep its password out."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    return text.replace(password, "***") if password else text
