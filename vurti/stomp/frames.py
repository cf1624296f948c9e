"""STOMP 1.2 frames: encoding, and an incremental parser for a byte stream.

Layout: COMMAND LF, `name:value` LF per header, LF, body, NUL. Every header is
escaped (`\\\\ \\n \\r \\c`) on output, as VDSM does, CONNECT included; on input
a bad escape, a raw ':' in a value or a line without ':' is a FrameError (VDSM
closes the connection for each). With `content-length` the body is exactly that
many bytes and must be followed by NUL; without it, the body ends at the first
NUL. CRLF line ends are accepted and EOLs between frames are heart-beats. A
repeated header: the first one wins. Frames larger than the parser's limit are
refused before they are buffered whole, so a peer cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTENT_LENGTH = "content-length"
MAX_HEADER_BYTES = 64 * 1024  # command and headers of one frame

_ESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\c": ":"}
_EOL = (10, 13)


class FrameError(ValueError):
    """The byte stream is not STOMP 1.2: the connection cannot be trusted any more."""


@dataclass(slots=True)
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __repr__(self) -> str:
        return f"Frame({self.command!r}, {self.headers!r}, {len(self.body)} bytes)"


def escape(value: str) -> str:
    if "\\" in value or "\n" in value or "\r" in value or ":" in value:
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace(":", "\\c")
    return value


def unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            pair = value[i : i + 2]
            if pair not in _ESCAPES:
                raise FrameError(f"bad escape {pair!r} in header {value[:80]!r}")
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def encode(command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One frame on the wire; `content-length` is added whenever there is a body."""
    lines = [command]
    if headers:
        lines.extend(f"{escape(k)}:{escape(v)}" for k, v in headers.items() if k != CONTENT_LENGTH)
    if body:
        lines.append(f"{CONTENT_LENGTH}:{len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body + b"\0"


class FrameParser:
    """Feed bytes as they arrive; get whole frames back, in order.

    `heartbeats` counts the EOLs seen between frames. After a FrameError the
    parser is unusable: the caller closes the connection.
    """

    __slots__ = ("_buf", "_max_frame", "heartbeats")

    def __init__(self, max_frame: int) -> None:
        self._buf = bytearray()
        self._max_frame = max_frame
        self.heartbeats = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos = 0
        n = len(buf)
        while pos < n:
            if buf[pos] in _EOL:
                if buf[pos] == 10:
                    self.heartbeats += 1
                pos += 1
                continue
            parsed = self._frame(buf, pos, n)
            if parsed is None:
                break
            frame, pos = parsed
            frames.append(frame)
        if pos:
            del buf[:pos]
        return frames

    def _frame(self, buf: bytearray, pos: int, n: int) -> tuple[Frame, int] | None:
        end = buf.find(b"\n\n", pos, pos + MAX_HEADER_BYTES)
        crlf = buf.find(b"\n\r\n", pos, end if end >= 0 else pos + MAX_HEADER_BYTES)
        if crlf >= 0 and (end < 0 or crlf < end):
            head_end, body_start = crlf, crlf + 3
        elif end >= 0:
            head_end, body_start = end, end + 2
        else:
            if n - pos >= MAX_HEADER_BYTES:
                raise FrameError(f"no end of headers within {MAX_HEADER_BYTES} bytes")
            return None
        command, headers = _head(bytes(buf[pos:head_end]))
        length = headers.get(CONTENT_LENGTH)
        if length is not None:
            if not (length.isascii() and length.isdigit()):  # str.isdigit alone takes '²' and '١'  # noqa: RUF003
                raise FrameError(f"content-length {length[:40]!r} is not a number")
            size = int(length)
            if size > self._max_frame:
                raise FrameError(f"{command} frame of {size} bytes is over the limit of {self._max_frame}")
            stop = body_start + size
            if n <= stop:
                return None
            if buf[stop] != 0:
                raise FrameError(f"{command} frame: no NUL after content-length {size}")
        else:
            stop = buf.find(b"\0", body_start)
            if stop < 0:
                if n - body_start > self._max_frame:
                    raise FrameError(f"{command} frame without NUL within {self._max_frame} bytes")
                return None
        return Frame(command, headers, bytes(buf[body_start:stop])), stop + 1


def _head(raw: bytes) -> tuple[str, dict[str, str]]:
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise FrameError(f"frame head is not UTF-8: {exc}") from None
    lines = text.split("\n")
    command = lines[0].rstrip("\r")
    if not command:
        raise FrameError("frame without a command")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        line = line.removesuffix("\r")
        name, sep, value = line.partition(":")
        if not sep:
            raise FrameError(f"{command} header line without ':': {line[:80]!r}")
        if ":" in value:
            raise FrameError(f"{command} header {name[:40]!r} has a raw ':' in its value")
        name = unescape(name)
        if name not in headers:
            headers[name] = unescape(value)
    return command, headers
