"""Why a call to a host agent failed, as exceptions inside the agent layer.

Hierarchy (each class fixes the FetchErrorKind the rest of vurti sees)::

    AgentCallError                 base; `kind`, `message`, `code`
    ├── AgentUnreachable           UNREACHABLE: refused, DNS, TLS handshake/verification
    ├── AgentTimeout               TIMEOUT: connect or read timeout
    ├── ProtocolError              PROTOCOL: HTTP status != 200, not JSON, not a
    │                              JSON-RPC 2.0 reply, reply over max_reply_bytes
    ├── AgentErrorReply            AGENT_ERROR: a JSON-RPC error; `code` kept
    │                              (1 = no such VM, 99 = agent recovering,
    │                              -32601 = a verb this VDSM does not have)
    └── InvalidData                INVALID_DATA: a result of the wrong shape

Low-level errors (requests, urllib3, orjson) are translated into these at the
boundary (client.py), and these become data (`FetchError`) at the fetchers'
edge through `to_fetch_error`; nothing above the agent layer catches them.
"""

from __future__ import annotations

from typing import ClassVar

from vurti.domain.report import AGENT_RECOVERING_CODE, FetchError, FetchErrorKind

# JSON-RPC error code VDSM answers with for a vmId it does not know.
NO_SUCH_VM_CODE = 1
# JSON-RPC 2.0's "method not found": the host's VDSM has no such verb (older than it).
METHOD_NOT_FOUND_CODE = -32601


class AgentCallError(Exception):
    """A call to a host agent did not give a usable result."""

    kind: ClassVar[FetchErrorKind]

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class AgentUnreachable(AgentCallError):
    kind = FetchErrorKind.UNREACHABLE


class AgentTimeout(AgentCallError):
    kind = FetchErrorKind.TIMEOUT


class ProtocolError(AgentCallError):
    kind = FetchErrorKind.PROTOCOL


class AgentErrorReply(AgentCallError):
    """The agent answered with a JSON-RPC error object."""

    kind = FetchErrorKind.AGENT_ERROR

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message, code=code)

    @property
    def is_recovering(self) -> bool:
        return self.code == AGENT_RECOVERING_CODE

    @property
    def no_such_vm(self) -> bool:
        return self.code == NO_SUCH_VM_CODE

    @property
    def method_not_found(self) -> bool:
        return self.code == METHOD_NOT_FOUND_CODE


class InvalidData(AgentCallError):
    kind = FetchErrorKind.INVALID_DATA


def to_fetch_error(exc: AgentCallError, verb: str) -> FetchError:
    """The data form of a failed call, for HostReport.error and CommandResult."""
    return FetchError(kind=exc.kind, message=exc.message, verb=verb, code=exc.code)
