"""AgentClient against a real HTTP server: envelope, errors, timeouts, bounded reads."""

from __future__ import annotations

import socket
import time
import tracemalloc
from typing import Any

import pytest
import requests
import urllib3.exceptions
from requests.adapters import BaseAdapter

from tests.agent.conftest import FAST
from tests.agent.server import AgentServer, StreamStats, error, hang, raw, stream, truncated
from vurti.agent import (
    AgentClient,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    ProtocolError,
    make_session,
    to_fetch_error,
)
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind


def test_call_posts_a_jsonrpc_request_and_returns_the_bare_result(server: AgentServer, client: AgentClient) -> None:
    server.reply("Host.getVMList", [{"vmId": "a", "status": "Up", "statusTime": "1"}])
    assert client.call(server.url, "Host.getVMList", {"onlyUUID": False}) == [
        {"vmId": "a", "status": "Up", "statusTime": "1"}
    ]
    (request,) = server.received
    assert request["jsonrpc"] == "2.0"
    assert request["method"] == "Host.getVMList"
    assert request["params"] == {"onlyUUID": False}
    assert isinstance(request["id"], int)
    assert server.headers[0]["Content-Type"] == "application/json"


def test_params_default_to_an_empty_object_and_ids_increase(server: AgentServer, client: AgentClient) -> None:
    server.reply("Host.ping2", True)
    assert client.call(server.url, "Host.ping2") is True
    assert client.call(server.url, "Host.ping2") is True
    first, second = server.received
    assert first["params"] == {} and second["id"] > first["id"]


def test_connections_are_kept_alive_across_calls(server: AgentServer, client: AgentClient) -> None:
    server.reply("Host.ping2", True)
    for _ in range(5):
        client.call(server.url, "Host.ping2")
    assert server.connections == 1


def test_a_batch_of_one_is_accepted(server: AgentServer, client: AgentClient) -> None:
    def batch_of_one(handler: Any, request: dict[str, Any] | None) -> None:
        assert request is not None
        raw(b'[{"jsonrpc":"2.0","id":%d,"result":true}]' % request["id"])(handler, request)

    server.on("Host.ping2", batch_of_one)
    assert client.call(server.url, "Host.ping2") is True


def test_refused_connection_is_unreachable(client: AgentClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on `port` any more
    with pytest.raises(AgentUnreachable) as info:
        client.call(f"http://127.0.0.1:{port}/", "Host.getStats")
    fetch_error = to_fetch_error(info.value, "Host.getStats")
    assert fetch_error.kind is FetchErrorKind.UNREACHABLE and fetch_error.is_network_failure
    assert fetch_error.verb == "Host.getStats"


def test_a_server_that_never_answers_times_out_quickly(server: AgentServer, session: requests.Session) -> None:
    server.on("Host.getStats", hang)
    client = AgentClient(session, AgentSettings(connect_timeout=1.0, read_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(AgentTimeout) as info:
        client.call(server.url, "Host.getStats")
    assert time.monotonic() - started < 2.0
    assert info.value.kind is FetchErrorKind.TIMEOUT
    assert "read timeout" in info.value.message


def test_http_500_is_a_protocol_error(server: AgentServer, client: AgentClient) -> None:
    server.on("Host.getStats", raw(b"Internal Server Error", status=500))
    with pytest.raises(ProtocolError, match="HTTP 500"):
        client.call(server.url, "Host.getStats")


def test_a_redirect_is_not_followed(server: AgentServer, client: AgentClient) -> None:
    server.on("Host.getStats", raw(b"", status=302))
    with pytest.raises(ProtocolError, match="HTTP 302"):
        client.call(server.url, "Host.getStats")


@pytest.mark.parametrize(
    "body, match",
    [
        (b"<html>not json</html>", "not JSON"),
        (b'{"jsonrpc":"2.0","id":1,"result":[{"vmId":', "not JSON"),  # complete HTTP body, truncated JSON
        (b"[1, 2]", "not a JSON-RPC 2.0 reply"),
        (b'{"id":1,"result":true}', "not a JSON-RPC 2.0 reply"),  # no jsonrpc member
        (b'{"jsonrpc":"2.0","id":1}', "neither result nor error"),
        (b'{"jsonrpc":"2.0","id":987654,"result":true}', "carries id"),
        (b'{"jsonrpc":"2.0","id":null,"error":"boom"}', "malformed error"),
        (b'{"jsonrpc":"2.0","id":null,"error":{"code":"1","message":"x"}}', "malformed error"),
    ],
)
def test_replies_that_are_not_jsonrpc_are_protocol_errors(
    server: AgentServer, client: AgentClient, body: bytes, match: str
) -> None:
    server.on("Host.getStats", raw(body))
    with pytest.raises(ProtocolError, match=match):
        client.call(server.url, "Host.getStats")


def test_a_reply_cut_short_of_its_content_length_is_a_protocol_error(server: AgentServer, client: AgentClient) -> None:
    server.on("Host.getStats", truncated(b'{"jsonrpc":"2.0","id":1,"res', declared=500))
    with pytest.raises(ProtocolError, match="broken off"):
        client.call(server.url, "Host.getStats")


def test_jsonrpc_error_keeps_code_and_message(server: AgentServer, client: AgentClient) -> None:
    server.on("VM.getStats", error(1, "Virtual machine does not exist: {'vmId': 'x'}"))
    with pytest.raises(AgentErrorReply) as info:
        client.call(server.url, "VM.getStats", {"vmID": "x"})
    fetch_error = to_fetch_error(info.value, "VM.getStats")
    assert fetch_error.kind is FetchErrorKind.AGENT_ERROR
    assert fetch_error.code == 1
    assert "Virtual machine does not exist" in fetch_error.message
    assert not fetch_error.is_recovering and not fetch_error.is_network_failure


def test_error_99_is_recovering(server: AgentServer, client: AgentClient) -> None:
    server.on("*", error(99, "Recovering from crash or Initializing"))
    with pytest.raises(AgentErrorReply) as info:
        client.call(server.url, "Host.getAllVmStats")
    assert info.value.is_recovering
    assert to_fetch_error(info.value, "Host.getAllVmStats").is_recovering


def test_parse_error_reply_with_null_id_is_an_agent_error(server: AgentServer, client: AgentClient) -> None:
    server.on("*", raw(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'))
    with pytest.raises(AgentErrorReply) as info:
        client.call(server.url, "Host.getStats")
    assert info.value.code == -32700


def test_unknown_verb_is_an_agent_error(server: AgentServer, client: AgentClient) -> None:
    with pytest.raises(AgentErrorReply) as info:
        client.call(server.url, "Host.noSuchVerb")
    assert info.value.code == -32601


@pytest.mark.parametrize("declare_length", [False, True])
def test_a_50mb_reply_is_cut_at_max_reply_bytes(server: AgentServer, declare_length: bool) -> None:
    stats = StreamStats()
    total = 50 * 1024 * 1024
    server.on("Host.getAllVmStats", stream(total, stats, declare_length=declare_length))
    session = make_session(FAST)  # max_reply_bytes = 1 MiB
    client = AgentClient(session, FAST)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ProtocolError, match="max_reply_bytes=1048576"):
            client.call(server.url, "Host.getAllVmStats")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        session.close()
    assert stats.done.wait(10), "the server should see the client go away"
    assert stats.sent < total / 2, f"the server got {stats.sent} bytes out: the client kept reading"
    assert peak < 8 * 1024 * 1024
    assert elapsed < 5.0


def test_connection_is_not_reused_after_an_oversized_reply(server: AgentServer) -> None:
    stats = StreamStats()
    server.on("Host.getAllVmStats", stream(3 * 1024 * 1024, stats, declare_length=True))
    server.reply("Host.ping2", True)
    session = make_session(FAST)
    client = AgentClient(session, FAST)
    with pytest.raises(ProtocolError):
        client.call(server.url, "Host.getAllVmStats")
    assert client.call(server.url, "Host.ping2") is True
    session.close()


def test_repr_keeps_the_client_key_out() -> None:
    settings = AgentSettings(cert_file="/etc/pki/vurti/client.pem", key_file="/etc/pki/vurti/secret-client.key")
    client = AgentClient(make_session(settings), settings)
    assert "secret-client.key" not in repr(client)


def test_invalid_url_is_unreachable_with_a_clear_message(client: AgentClient) -> None:
    with pytest.raises(AgentUnreachable, match="invalid agent URL"):
        client.call("not a url", "Host.getStats")


def test_credentials_in_the_url_are_redacted(client: AgentClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AgentUnreachable) as info:
        client.call(f"http://admin:hunter2@127.0.0.1:{port}/", "Host.getStats")
    assert "hunter2" not in info.value.message


class _RaisingAdapter(BaseAdapter):
    """A transport stub that fails every send with a given low-level error."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise self.exc

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "exc, expected",
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), AgentTimeout),
        (requests.exceptions.ReadTimeout("read timed out"), AgentTimeout),
        (requests.exceptions.ConnectionError(urllib3.exceptions.ReadTimeoutError(None, "/", "t")), AgentTimeout),  # type: ignore[arg-type]
        (requests.exceptions.SSLError("certificate verify failed"), AgentUnreachable),
        (requests.exceptions.ConnectionError("Name or service not known"), AgentUnreachable),
        (requests.exceptions.ChunkedEncodingError("bad chunk"), ProtocolError),
        (requests.exceptions.TooManyRedirects("loop"), ProtocolError),
        (urllib3.exceptions.ProtocolError("Connection broken"), ProtocolError),
        (urllib3.exceptions.NewConnectionError(None, "refused"), AgentUnreachable),  # type: ignore[arg-type]
        (ConnectionResetError(104, "reset"), AgentUnreachable),
    ],
)
def test_low_level_errors_are_translated_at_the_boundary(exc: BaseException, expected: type) -> None:
    session = requests.Session()
    session.mount("http://", _RaisingAdapter(exc))
    client = AgentClient(session, FAST)
    with pytest.raises(expected) as info:
        client.call("http://agent.example:54321/", "Host.getStats")
    assert info.value.__cause__ is exc
