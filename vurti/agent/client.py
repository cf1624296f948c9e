"""JSON-RPC 2.0 over HTTP POST to a host agent, on one pooled requests.Session.

The Session is the injectable transport: production builds it with
`make_session`, tests mount their own adapter (`Session.mount`). Every call has a
connect and a read timeout, reads at most `max_reply_bytes`, and turns every
low-level failure into an `AgentCallError` (see errors.py) right here, so
nothing above this module sees a requests, urllib3 or orjson exception.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

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

log = logging.getLogger(__name__)



def make_session(settings: AgentSettings) -> requests.Session:
    """One pooled Session per process (create it after a fork, never before).

    No retries inside urllib3: the polling schedule is the retry. trust_env is
    off, so proxy variables, .netrc and REQUESTS_CA_BUNDLE cannot redirect agent
    traffic or change its TLS trust (and per-request environment lookups cost CPU).
    `pool_size` bounds both the connections kept per agent and the number of
    agents whose connections are kept.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(
        pool_connections=settings.pool_size,
        pool_maxsize=settings.pool_size,
        max_retries=Retry(total=0, read=False, redirect=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if settings.ca_file:
        session.verify = settings.ca_file if settings.verify_tls else False
    else:
        session.verify = settings.verify_tls
    if settings.cert_file:
        session.cert = (settings.cert_file, settings.key_file) if settings.key_file else settings.cert_file
    session.headers.update(HEADERS)
    return session


class AgentClient:
    """Calls one JSON-RPC verb on an agent and returns the bare `result`."""

    def __init__(self, session: requests.Session, settings: AgentSettings) -> None:
        self._session = session
        self._settings = settings
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"AgentClient(settings={self._settings!r})"

    def call(self, url: str, verb: str, params: dict[str, Any] | None = None) -> Any:
        """POST one request to the agent's base URL; raise AgentCallError subclasses."""
        request_id = next(self._ids)
        body = encode_request(request_id, verb, params)
        try:
            data = self._post(url, body)
        except AgentCallError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _translate(exc, verb, url) from exc
        return unwrap_reply(data, request_id, verb, url)

    def _post(self, url: str, body: bytes) -> bytes:
        resp = self._session.post(url, data=body, timeout=self._timeout, stream=True, allow_redirects=False)
        complete = False
        try:
            if resp.status_code != 200:
                snippet = resp.raw.read(SNIPPET, decode_content=True) or b""
                raise http_status_error(resp.status_code, url, snippet)
            data = self._read_bounded(resp, url)
            complete = True
            return data
        finally:
            if not complete:
                resp.close()  # drop the connection: its unread rest must not be reused

    def _read_bounded(self, resp: requests.Response, url: str) -> bytes:
        limit = self._settings.max_reply_bytes
        too_large = declared_too_large(resp.headers.get("Content-Length"), limit, url)
        if too_large is not None:
            raise too_large
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.raw.read(min(CHUNK, limit + 1 - total), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise read_too_large(total, limit, url)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _translate(exc: BaseException, verb: str, url: str) -> AgentCallError:
    """Map a requests/urllib3/socket exception onto the agent error hierarchy."""
    where = f"{verb} to {redact_url(url)}"
    reason = _reason(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return AgentTimeout(f"{where}: connect timeout: {reason}")
    if isinstance(exc, requests.exceptions.Timeout) or _is_timeout(exc):
        return AgentTimeout(f"{where}: read timeout: {reason}")
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return AgentUnreachable(f"{where}: TLS failure: {reason}")
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return AgentUnreachable(f"{where}: {reason}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if any(_is_timeout(arg) for arg in exc.args):
            return AgentTimeout(f"{where}: read timeout: {reason}")
        return AgentUnreachable(f"{where}: {reason}")
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            urllib3.exceptions.LocationValueError,
        ),
    ):
        return AgentUnreachable(f"{verb}: invalid agent URL {redact_url(url)!r}")
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return ProtocolError(f"{where}: reply broken off: {reason}")
    if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
        return AgentUnreachable(f"{where}: {reason}")
    return ProtocolError(f"{where}: {type(exc).__name__}: {reason}")


def _is_timeout(exc: object) -> bool:
    # urllib3's NewConnectionError (refused, DNS) subclasses its ConnectTimeoutError.
    return isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
        exc, urllib3.exceptions.NewConnectionError
    )


def _reason(exc: BaseException) -> str:
    """The innermost useful message (urllib3 nests it in MaxRetryError.reason)."""
    inner: BaseException = exc
    for _ in range(5):
        nxt = getattr(inner, "reason", None)
        if isinstance(nxt, BaseException):
            inner = nxt
            continue
        if inner.args and isinstance(inner.args[0], BaseException):
            inner = inner.args[0]
            continue
        break
    return str(inner)[:300]
