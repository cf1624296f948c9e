"""The JSON-RPC 2.0 envelope and its checks, shared by the sync and the asyncio client.

Pure functions only (no I/O), so both transports build the same request and
judge a reply, a bad HTTP status or an oversized body with the same words and
the same AgentCallError subclass (errors.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from vurti.agent.errors import AgentErrorReply, ProtocolError
from vurti.config import redact_url

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "identity",  # small replies on a LAN: decompression costs more than it saves
    "User-Agent": "vurti-agent-client",
}
CHUNK = 256 * 1024  # bytes per read of a reply body
SNIPPET = 200  # bytes of a non-200 body quoted in the error


def encode_request(request_id: int, verb: str, params: dict[str, Any] | None) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": verb, "params": params or {}})


def http_status_error(status: int, url: str, snippet: bytes) -> ProtocolError:
    return ProtocolError(f"HTTP {status} from {redact_url(url)}: {snippet.decode('utf-8', 'replace')!r}")


def declared_too_large(declared: str | None, limit: int, url: str) -> ProtocolError | None:
    """The error for a Content-Length over the limit (the body is then not read at all)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return ProtocolError(
            f"reply from {redact_url(url)} is {int(declared)} bytes, over max_reply_bytes={limit}; not read"
        )
    return None


def read_too_large(total: int, limit: int, url: str) -> ProtocolError:
    return ProtocolError(
        f"reply from {redact_url(url)} exceeds max_reply_bytes={limit}; stopped reading at {total} bytes"
    )


def unwrap_reply(data: bytes, request_id: int, verb: str, url: str) -> Any:
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
            raise ProtocolError(f"{verb} reply has a malformed error object: {str(error)[:SNIPPET]!r}")
        message = error.get("message")
        text = message if isinstance(message, str) else ""
        raise AgentErrorReply(f"{verb} failed with code {code}: {text}"[:1000], code=code)
    if "result" not in reply:
        raise ProtocolError(f"{verb} reply from {redact_url(url)} has neither result nor error")
    if reply_id != request_id:
        raise ProtocolError(f"{verb} reply carries id {reply_id!r}, expected {request_id}")
    return reply["result"]
