"""A real JSON-RPC-over-HTTP(S) agent on 127.0.0.1 answering canned replies.

Each JSON-RPC method maps to a Behaviour: a callable that writes the whole HTTP
response for one request. Factories below build the usual ones (a result, an
error, raw bytes, an endless stream, a hang). The server records what it
received, counts connections and TLS failures, and is stopped by whoever
started it (`with AgentServer() as server:`).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import orjson

Behaviour = Callable[["_Handler", "dict[str, Any] | None"], None]


@dataclass
class StreamStats:
    """What an endless-stream behaviour managed to send before the client left."""

    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


def send(handler: _Handler, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def result(value: Any) -> Behaviour:
    def behave(handler: _Handler, request: dict[str, Any] | None) -> None:
        request_id = request.get("id") if request else None
        send(handler, orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": value}))

    return behave


def error(code: int, message: str) -> Behaviour:
    def behave(handler: _Handler, request: dict[str, Any] | None) -> None:
        request_id = request.get("id") if request else None
        send(handler, orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}))

    return behave


def raw(body: bytes, status: int = 200) -> Behaviour:
    def behave(handler: _Handler, request: dict[str, Any] | None) -> None:
        send(handler, body, status)

    return behave


def truncated(body: bytes, declared: int) -> Behaviour:
    """Declare `declared` bytes, send `body`, then close the connection."""

    def behave(handler: _Handler, request: dict[str, Any] | None) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True

    return behave


def stream(total: int, stats: StreamStats, declare_length: bool = False) -> Behaviour:
    """Send a `total`-byte JSON-RPC reply in chunks, counting what got out."""

    def behave(handler: _Handler, request: dict[str, Any] | None) -> None:
        head = b'{"jsonrpc":"2.0","id":1,"result":"'
        handler.send_response(200)
        if declare_length:
            handler.send_header("Content-Length", str(total))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"x" * 65536
        try:
            handler.wfile.write(head)
            stats.sent = len(head)
            while stats.sent < total:
                piece = chunk[: total - stats.sent]
                handler.wfile.write(piece)
                stats.sent += len(piece)
        except OSError:
            pass
        finally:
            stats.done.set()

    return behave


def hang(handler: _Handler, request: dict[str, Any] | None) -> None:
    """Accept the request and never answer (until the server stops)."""
    handler.server.stopping.wait()  # type: ignore[attr-defined]
    handler.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                self.server.peer_certs.append(cert)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        with self.server.lock:
            self.server.received.append(request)
            self.server.headers.append(dict(self.headers))
        method = str(request.get("method")) if isinstance(request, dict) else ""
        behaviour = self.server.behaviours.get(method) or self.server.behaviours.get("*")
        if behaviour is None:
            behaviour = error(-32601, f"The method does not exist: {method}")
        behaviour(self, request)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ssl_context = ssl_context
        self.behaviours: dict[str, Behaviour] = {}
        self.received: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.peer_certs: list[dict[str, Any]] = []
        self.connections = 0
        self.tls_failures = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.tls_failures += 1
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-reply is expected in these tests


class AgentServer:
    """Start with `with AgentServer() as s:`; set replies with `s.on(method, behaviour)`."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = _Server(ssl_context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="agent-server", daemon=True
        )
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def on(self, method: str, behaviour: Behaviour) -> AgentServer:
        self._server.behaviours[method] = behaviour
        return self

    def reply(self, method: str, value: Any) -> AgentServer:
        return self.on(method, result(value))

    @property
    def received(self) -> list[Any]:
        return list(self._server.received)

    @property
    def headers(self) -> list[dict[str, str]]:
        return list(self._server.headers)

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def tls_failures(self) -> int:
        return self._server.tls_failures

    @property
    def peer_certs(self) -> list[dict[str, Any]]:
        return list(self._server.peer_certs)
