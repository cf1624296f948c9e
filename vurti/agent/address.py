"""Where a host's VDSM listens, written as `stomps://name:54321` (TLS) or `stomp://name:54321`.

An operator types what VDSM is known by: `host-01.example`, `10.0.0.7:54321`,
`[fe80::1]`, or the URL form. Hosts stored before the STOMP transport have
`https://name:port/...` or `http://...` URLs; they read as `stomps://name:port`
and `stomp://name:port` (the path meant nothing to VDSM).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

VDSM_PORT = 54321
_TLS_SCHEMES = {"stomps": True, "stomp": False, "https": True, "http": False}


class AddressError(ValueError):
    """Not a host agent address; the message says why."""


@dataclass(frozen=True)
class AgentAddress:
    host: str
    port: int = VDSM_PORT
    tls: bool = True

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'stomps' if self.tls else 'stomp'}://{host}:{self.port}"


def parse_address(text: str, *, tls: bool = True) -> AgentAddress:
    """An AgentAddress from what an operator or an older database row says; `tls` when no scheme says."""
    raw = text.strip()
    if not raw:
        raise AddressError("an agent address is empty; give a host name or address, e.g. host-01.example")
    shown = redact(raw)  # every message quotes this, never `text`
    if "://" not in raw:
        raw = f"{'stomps' if tls else 'stomp'}://{raw}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"agent address {shown!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _TLS_SCHEMES:
        raise AddressError(f"agent address {shown!r}: scheme {scheme!r} is not stomps, stomp, https or http")
    if not parts.hostname:
        raise AddressError(f"agent address {shown!r} names no host")
    if port == 0:
        raise AddressError(f"agent address {shown!r}: port 0 is not a port")
    if parts.username or parts.password:
        raise AddressError(f"agent address {shown!r}: VDSM takes no user or password")
    return AgentAddress(parts.hostname, port or VDSM_PORT, _TLS_SCHEMES[scheme])


def redact(text: str) -> str:
    """The text without what stands before '@' in its host part (a mistyped credential stays out of messages)."""
    head, sep, rest = text.partition("//")
    if not sep:
        head, rest = "", text  # no scheme: the host part starts the text
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return text
    return f"{head}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"
