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

import orjson
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vurti.agent.errors import (
    AgentCallError,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    ProtocolError,
)
from vurti.config import AgentSettings, redact_url

log = logging.getLogger(__name__)

_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "identity",  # small replies on a LAN: decompression costs more than it saves
    "User-Agent": "vurti-agent-client",
}
_CHUNK = 256 * 1024
_SNIPPET = 200


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
    session.headers.update(_HEADERS)
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
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": verb, "params": params or {}})
        try:
            data = self._post(url, body)
        except AgentCallError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _translate(exc, verb, url) from exc
        return _unwrap(data, request_id, verb, url)

    def _post(self, url: str, body: bytes) -> bytes:
        resp = self._session.post(url, data=body, timeout=self._timeout, stream=True, allow_redirects=False)
        complete = False
        try:
            if resp.status_code != 200:
                snippet = resp.raw.read(_SNIPPET, decode_content=True) or b""
                raise ProtocolError(
                    f"HTTP {resp.status_code} from {redact_url(url)}: {snippet.decode('utf-8', 'replace')!r}"
                )
            data = self._read_bounded(resp, url)
            complete = True
            return data
        finally:
            if not complete:
                resp.close()  # drop the connection: its unread rest must not be reused

    def _read_bounded(self, resp: requests.Response, url: str) -> bytes:
        limit = self._settings.max_reply_bytes
        declared = resp.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ProtocolError(
                f"reply from {redact_url(url)} is {int(declared)} bytes, over max_reply_bytes={limit}; not read"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.raw.read(min(_CHUNK, limit + 1 - total), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ProtocolError(
                    f"reply from {redact_url(url)} exceeds max_reply_bytes={limit}; stopped reading at {total} bytes"
                )
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _unwrap(data: bytes, request_id: int, verb: str, url: str) -> Any:
    """Check the JSON-RPC 2.0 envelope and return `result` or raise the error."""
    try:
        reply = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{verb} reply from {redact_url(url)} is not JSON: {exc}") from None
    if type(reply) is list and len(reply) == 1:
        reply = reply[0]  # tolerate a batch of one
    if type(reply) is not dict or reply.get("jsonrpc") != "2.0":
        raise ProtocolError(f"{verb} reply from {redact_url(url)} is not a JSON-RPC 2.0 reply")
    reply_id = reply.get("id")
    if "error" in reply:
        error = reply["error"]
        if reply_id is not None and reply_id != request_id:
            raise ProtocolError(f"{verb} error reply carries id {reply_id!r}, expected {request_id}")
        code = error.get("code") if type(error) is dict else None
        if type(code) is not int:
            raise ProtocolError(f"{verb} reply has a malformed error object: {str(error)[:_SNIPPET]!r}")
        message = error.get("message")
        text = message if isinstance(message, str) else ""
        raise AgentErrorReply(f"{verb} failed with code {code}: {text}"[:1000], code=code)
    if "result" not in reply:
        raise ProtocolError(f"{verb} reply from {redact_url(url)} has neither result nor error")
    if reply_id != request_id:
        raise ProtocolError(f"{verb} reply carries id {reply_id!r}, expected {request_id}")
    return reply["result"]


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
