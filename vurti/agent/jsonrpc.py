"""The JSON-RPC 2.0 envelope VDSM takes and gives back, and its checks: pure functions, no I/O.

Requests carry a UUID string id (ids must be unique across every client of a
host, since VDSM keeps one map of them for all connections) and params as an
object; never a batch. A reply is judged here, with the same words and the same
AgentCallError subclass (errors.py) whoever carried it.
"""

from __future__ import annotations

from typing import Any

import orjson

from vurti.agent.errors import AgentErrorReply, ProtocolError

SNIPPET = 200  # characters of a malformed error object quoted in the error


def encode_request(request_id: str, verb: str, params: dict[str, Any] | None) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": verb, "params": params or {}})


def decode(body: bytes, where: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message from {where} is not JSON: {exc}") from None


def unwrap_reply(reply: Any, request_id: str, verb: str, where: str) -> Any:
    """Check a decoded JSON-RPC 2.0 reply and return `result`, or raise what went wrong."""
    if type(reply) is list and len(reply) == 1:
        reply = reply[0]  # tolerate a batch of one
    if type(reply) is not dict or reply.get("jsonrpc") != "2.0":
        raise ProtocolError(f"{verb} reply from {where} is not a JSON-RPC 2.0 reply")
    reply_id = reply.get("id")
    if "error" in reply and reply["error"] is not None:
        error = reply["error"]
        if reply_id is not None and reply_id != request_id:
            raise ProtocolError(f"{verb} error reply from {where} carries id {reply_id!r}, expected {request_id}")
        code = error.get("code") if type(error) is dict else None
        if type(code) is not int:
            raise ProtocolError(f"{verb} reply from {where} has a malformed error object: {str(error)[:SNIPPET]!r}")
        message = error.get("message")
        text = message if isinstance(message, str) else ""
        raise AgentErrorReply(f"{verb} failed with code {code}: {text}"[:1000], code=code)
    if "result" not in reply:
        raise ProtocolError(f"{verb} reply from {where} has neither result nor error")
    if reply_id != request_id:
        raise ProtocolError(f"{verb} reply from {where} carries id {reply_id!r}, expected {request_id}")
    return reply["result"]
