"""The asyncio client, poller and BatchPoller against the real test server, side by side with the sync ones."""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.agent import wire
from tests.agent.conftest import FAST
from tests.agent.pki import Pki
from tests.agent.server import AgentServer, StreamStats, _Server, error, hang, raw, result, stream, truncated
from vurti.agent import (
    AgentCallError,
    AgentClient,
    AgentErrorReply,
    AgentTimeout,
    AgentUnreachable,
    HostPoller,
    PollPlan,
    PollRequest,
    ProtocolError,
    make_session,
)
from vurti.agent.aio import AsyncAgentClient, AsyncHostPoller, BatchPoller
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind, HostReport

HANGING = AgentSettings(connect_timeout=1.0, read_timeout=0.3)


@pytest.fixture(autouse=True)
def _wide_listen_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent connects overflow socketserver's listen backlog of 5 (SYNs dropped, retried after 1 s)."""
    monkeypatch.setattr(_Server, "request_queue_size", 128)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def acall(settings: AgentSettings, url: str, verb: str, params: dict[str, Any] | None = None) -> Any:
    async def go() -> Any:
        client = AsyncAgentClient(settings)
        try:
            return await client.call(url, verb, params)
        finally:
            await client.close()

    return asyncio.run(go())


def apoll(settings: AgentSettings, url: str, plan: PollPlan) -> HostReport:
    async def go() -> HostReport:
        poller = AsyncHostPoller(AsyncAgentClient(settings))
        try:
            return await poller.poll_request(PollRequest.from_plan("h1", url, plan, now=5.0))
        finally:
            await poller.close()

    return asyncio.run(go())


# --- one table of cases, run through both clients -------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[AgentServer], object]
    expected: type[AgentCallError] | None  # None: the call returns `value`
    match: str = ""
    code: int | None = None
    value: Any = None
    settings: AgentSettings = FAST
    url: Callable[[AgentServer], str] = field(default=lambda server: server.url)
    verb: str = "Host.getStats"


def _on(behaviour: Any, method: str = "*") -> Callable[[AgentServer], object]:
    return lambda server: server.on(method, behaviour)


def _batch_of_one(handler: Any, request: dict[str, Any] | None) -> None:
    assert request is not None
    raw(b'[{"jsonrpc":"2.0","id":%d,"result":true}]' % request["id"])(handler, request)


CASES = [
    Case("result", _on(result({"a": [1, "2"]})), None, value={"a": [1, "2"]}),
    Case("batch of one", _on(_batch_of_one), None, value=True),
    Case("refused", lambda server: None, AgentUnreachable, url=lambda server: _closed_port_url()),
    Case("invalid url", lambda server: None, AgentUnreachable, "invalid agent URL", url=lambda server: "not a url"),
    Case("hanging server", _on(hang), AgentTimeout, "read timeout", settings=HANGING),
    Case("http 500", _on(raw(b"Internal Server Error", status=500)), ProtocolError, "HTTP 500"),
    Case("redirect not followed", _on(raw(b"", status=302)), ProtocolError, "HTTP 302"),
    Case("not json", _on(raw(b"<html>not json</html>")), ProtocolError, "not JSON"),
    Case("truncated json", _on(raw(b'{"jsonrpc":"2.0","id":1,"result":[{"vmId":')), ProtocolError, "not JSON"),
    Case("body cut short", _on(truncated(b'{"jsonrpc":"2.0","id":1,"res', declared=500)), ProtocolError, "broken off"),
    Case("not jsonrpc", _on(raw(b'{"id":1,"result":true}')), ProtocolError, "not a JSON-RPC 2.0 reply"),
    Case("a list", _on(raw(b"[1, 2]")), ProtocolError, "not a JSON-RPC 2.0 reply"),
    Case("no result", _on(raw(b'{"jsonrpc":"2.0","id":1}')), ProtocolError, "neither result nor error"),
    Case("wrong id", _on(raw(b'{"jsonrpc":"2.0","id":987654,"result":true}')), ProtocolError, "carries id"),
    Case("malformed error", _on(raw(b'{"jsonrpc":"2.0","id":null,"error":"boom"}')), ProtocolError, "malformed"),
    Case("no such vm", _on(error(1, "Virtual machine does not exist")), AgentErrorReply, "does not exist", code=1),
    Case("recovering", _on(error(99, "Recovering from crash or Initializing")), AgentErrorReply, "code 99", code=99),
    Case("unknown verb", lambda server: None, AgentErrorReply, "does not exist", code=-32601, verb="Host.noSuchVerb"),
    Case(
        "parse error, null id",
        _on(raw(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}')),
        AgentErrorReply,
        "Parse error",
        code=-32700,
    ),
    Case(
        "declared over max_reply_bytes",
        lambda server: server.on("*", stream(3 * 1024 * 1024, StreamStats(), declare_length=True)),
        ProtocolError,
        "over max_reply_bytes=1048576; not read",
    ),
    Case(
        "streamed over max_reply_bytes",
        lambda server: server.on("*", stream(3 * 1024 * 1024, StreamStats())),
        ProtocolError,
        "exceeds max_reply_bytes=1048576",
    ),
]


def _outcome(call: Callable[[], Any]) -> tuple[type | None, Any, str, int | None]:
    try:
        return None, call(), "", None
    except AgentCallError as exc:
        return type(exc), None, exc.message, exc.code


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_both_clients_classify_every_case_alike(server: AgentServer, case: Case) -> None:
    case.setup(server)
    url = case.url(server)
    session = make_session(case.settings)
    try:
        sync = _outcome(lambda: AgentClient(session, case.settings).call(url, case.verb))
    finally:
        session.close()
    aio = _outcome(lambda: acall(case.settings, url, case.verb))
    for kind, value, message, code in (sync, aio):
        assert kind is case.expected, message
        assert value == case.value and code == case.code
        assert case.match in message
    assert sync[0] is aio[0] and sync[3] == aio[3]


# --- the asyncio client on its own ---------------------------------------------------------


def test_the_request_is_the_same_jsonrpc_envelope(server: AgentServer) -> None:
    server.reply("Host.getVMList", [])
    assert acall(FAST, server.url, "Host.getVMList", {"onlyUUID": False}) == []
    (request,) = server.received
    assert request["jsonrpc"] == "2.0" and request["method"] == "Host.getVMList"
    assert request["params"] == {"onlyUUID": False} and isinstance(request["id"], int)
    headers = server.headers[0]
    assert headers["Content-Type"] == "application/json" and headers["Accept-Encoding"] == "identity"


def test_connections_are_kept_alive_across_calls(server: AgentServer) -> None:
    server.reply("Host.ping2", True)

    async def go() -> None:
        client = AsyncAgentClient(FAST)
        for _ in range(5):
            assert await client.call(server.url, "Host.ping2") is True
        await client.close()

    asyncio.run(go())
    assert server.connections == 1


def test_a_hanging_server_times_out_quickly() -> None:
    with AgentServer() as server:
        server.on("Host.getStats", hang)
        started = time.monotonic()
        with pytest.raises(AgentTimeout, match="read timeout") as info:
            acall(HANGING, server.url, "Host.getStats")
        assert time.monotonic() - started < 2.0
        assert info.value.kind is FetchErrorKind.TIMEOUT


def _trickle(handler: Any, request: dict[str, Any] | None) -> None:
    """Headers, then a byte every 0.1 s: never silent long enough for a read timeout."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    handler.close_connection = True
    try:
        for _ in range(100):
            if handler.server.stopping.wait(0.1):
                return
            handler.wfile.write(b" ")
            handler.wfile.flush()
    except OSError:
        pass


def test_a_trickling_agent_is_cut_at_connect_plus_read_timeout() -> None:
    settings = AgentSettings(connect_timeout=0.3, read_timeout=0.5)
    with AgentServer() as server:
        server.on("Host.getStats", _trickle)
        started = time.monotonic()
        with pytest.raises(AgentTimeout, match="within 0.8 s"):
            acall(settings, server.url, "Host.getStats")
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("declare_length", [False, True])
def test_a_50mb_reply_is_cut_at_max_reply_bytes(server: AgentServer, declare_length: bool) -> None:
    stats = StreamStats()
    total = 50 * 1024 * 1024
    server.on("Host.getAllVmStats", stream(total, stats, declare_length=declare_length))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ProtocolError, match="max_reply_bytes=1048576"):
            acall(FAST, server.url, "Host.getAllVmStats")  # max_reply_bytes = 1 MiB
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.done.wait(10), "the server should see the client go away"
    assert stats.sent < total / 2, f"the server got {stats.sent} bytes out: the client kept reading"
    assert peak < 8 * 1024 * 1024
    assert elapsed < 5.0


def test_the_connection_is_not_reused_after_an_oversized_reply(server: AgentServer) -> None:
    server.on("Host.getAllVmStats", stream(3 * 1024 * 1024, StreamStats(), declare_length=True))
    server.reply("Host.ping2", True)

    async def go() -> None:
        client = AsyncAgentClient(FAST)
        with pytest.raises(ProtocolError):
            await client.call(server.url, "Host.getAllVmStats")
        assert await client.call(server.url, "Host.ping2") is True
        await client.close()

    asyncio.run(go())
    assert server.connections == 2


def test_a_client_belongs_to_the_loop_it_first_ran_in(server: AgentServer) -> None:
    server.reply("Host.ping2", True)
    client = AsyncAgentClient(FAST)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.call(server.url, "Host.ping2")) is True
        with pytest.raises(RuntimeError, match="bound to the event loop"):
            asyncio.run(client.call(server.url, "Host.ping2"))
        loop.run_until_complete(client.close())
    finally:
        loop.close()


def test_credentials_in_the_url_stay_out_of_messages(server: AgentServer) -> None:
    server.on("*", raw(b"HTTP/1.1 nonsense"))
    refused = _closed_port_url().replace("http://", "http://admin:hunter2@")
    with pytest.raises(AgentUnreachable) as info:
        acall(FAST, refused, "Host.getStats")
    assert "hunter2" not in info.value.message
    with pytest.raises(ProtocolError) as bad:
        acall(FAST, server.url.replace("http://", "http://admin:hunter2@"), "Host.getStats")
    assert "hunter2" not in bad.value.message


def test_repr_keeps_the_client_key_out() -> None:
    settings = AgentSettings(cert_file="/etc/pki/vurti/client.pem", key_file="/etc/pki/vurti/secret-client.key")
    assert "secret-client.key" not in repr(AsyncAgentClient(settings))
    assert "secret-client.key" not in repr(BatchPoller(settings))


# --- TLS -----------------------------------------------------------------------------------


def _tls_server(pki: Pki, require_client_cert: bool) -> AgentServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    server = AgentServer(context)
    server.reply("Host.ping2", True)
    return server


def test_tls_verified_with_the_ca(pki: Pki) -> None:
    with _tls_server(pki, require_client_cert=False) as server:
        assert acall(AgentSettings(ca_file=str(pki.ca), read_timeout=5), server.url, "Host.ping2") is True


def test_tls_without_the_ca_is_unreachable(pki: Pki) -> None:
    with _tls_server(pki, require_client_cert=False) as server:
        with pytest.raises(AgentUnreachable, match="TLS failure") as info:
            acall(AgentSettings(read_timeout=5), server.url, "Host.ping2")
        assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
        assert server.received == []


def test_tls_verification_off_accepts_any_certificate(pki: Pki) -> None:
    with _tls_server(pki, require_client_cert=False) as server:
        assert acall(AgentSettings(verify_tls=False, read_timeout=5), server.url, "Host.ping2") is True


def test_the_client_certificate_is_presented(pki: Pki) -> None:
    settings = AgentSettings(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    with _tls_server(pki, require_client_cert=True) as server:
        assert acall(settings, server.url, "Host.ping2") is True
        (cert,) = server.peer_certs
        assert (("commonName", "vurti-engine"),) in cert["subject"]


def test_without_a_client_certificate_mutual_tls_is_unreachable(pki: Pki) -> None:
    with _tls_server(pki, require_client_cert=True) as server:
        with pytest.raises(AgentUnreachable):
            acall(AgentSettings(ca_file=str(pki.ca), read_timeout=5), server.url, "Host.ping2")
        assert server.received == []


# --- AsyncHostPoller gives HostPoller's reports --------------------------------------------


def _healthy(server: AgentServer) -> None:
    a, b, c = wire.vm_ids(3)
    server.reply("Host.getCapabilities", wire.capabilities())
    server.reply("Host.getStats", wire.host_stats())
    server.reply("Host.getAllVmStats", [wire.running_vm(a), wire.migration_source(b), wire.down_vm(c, 0, 4, "x")])
    server.reply("Host.getVMList", wire.vm_list(3))


def _stats_fail(server: AgentServer) -> None:
    _healthy(server)
    server.on("Host.getStats", raw(b"oops", status=500))


def _partial(server: AgentServer) -> None:
    _healthy(server)
    (a,) = wire.vm_ids(1)
    server.reply("Host.getAllVmStats", [wire.running_vm(a), "garbage", wire.running_vm(a, status="Exotic")])
    server.reply("Host.getVMList", [wire.vm_list(1)[0], 7])


def _recovering(server: AgentServer) -> None:
    server.on("*", error(99, "Recovering from crash or Initializing"))


def _wrong_shape(server: AgentServer) -> None:
    _healthy(server)
    server.reply("Host.getAllVmStats", {"vms": []})


SETUPS: dict[str, Callable[[AgentServer], None]] = {
    "healthy": _healthy,
    "stats fail": _stats_fail,
    "recovering": _recovering,
    "wrong shape": _wrong_shape,
    "partial": _partial,
}
PLANS = {
    "short": PollPlan(),
    "full": PollPlan(capabilities=True, host_stats=True, full_vms=True, stats_due=True),
    "up, statistics cycle": PollPlan(host_stats=True, full_vms=True, stats_due=True),
    "maintenance": PollPlan(host_stats=True, stats_due=True, vms=False),
}


@pytest.mark.parametrize("setup", SETUPS, ids=list(SETUPS))
@pytest.mark.parametrize("plan", PLANS, ids=list(PLANS))
def test_async_poller_reports_equal_the_sync_pollers(setup: str, plan: str) -> None:
    with AgentServer() as server:
        SETUPS[setup](server)
        session = make_session(FAST)
        request = PollRequest.from_plan("h1", server.url, PLANS[plan], now=5.0)
        sync = HostPoller(AgentClient(session, FAST)).poll_request(request)
        session.close()
        sync_verbs = [request["method"] for request in server.received]
        aio = apoll(FAST, server.url, PLANS[plan])
        aio_verbs = [request["method"] for request in server.received][len(sync_verbs) :]
    assert aio == sync
    assert aio_verbs == sync_verbs


def test_async_poller_reports_timeouts_and_refusals_as_data() -> None:
    with AgentServer() as server:
        server.on("Host.getVMList", hang)
        report = apoll(HANGING, server.url, PollPlan())
    assert report.error is not None and report.error.kind is FetchErrorKind.TIMEOUT
    assert report.error.verb == "Host.getVMList" and report.vms is None
    report = apoll(FAST, _closed_port_url(), PollPlan(host_stats=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.UNREACHABLE


# --- BatchPoller ---------------------------------------------------------------------------


def _vms_by_path(handler: Any, request: dict[str, Any] | None) -> None:
    """Host i (URL path /hosts/i/) runs i % 7 VMs, so each report shows which host it came from."""
    index = int(handler.path.strip("/").split("/")[-1])
    result(wire.vm_list(index % 7))(handler, request)


def _requests(server: AgentServer, n: int, now: float = 1.0) -> list[PollRequest]:
    return [PollRequest(f"h{i}", f"{server.url}hosts/{i}/", now + i) for i in range(n)]


def _assert_in_order(reports: list[HostReport], requests: list[PollRequest]) -> None:
    assert [r.host_id for r in reports] == [q.host_id for q in requests]
    assert [r.fetched_at for r in reports] == [q.now for q in requests]
    for i, report in enumerate(reports):
        assert report.ok and report.vms is not None and len(report.vms) == i % 7


@pytest.fixture
def batch() -> Iterator[BatchPoller]:
    poller = BatchPoller(AgentSettings(connect_timeout=1.0, read_timeout=5.0, pool_size=16))
    yield poller
    poller.close()


def test_poll_many_returns_100_reports_in_order_to_two_threads_at_once(batch: BatchPoller) -> None:
    with AgentServer() as server:
        server.on("Host.getVMList", _vms_by_path)
        requests = _requests(server, 100)
        results: dict[str, list[HostReport]] = {}
        errors: list[BaseException] = []

        def caller(name: str) -> None:
            try:
                results[name] = batch.poll_many(requests)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        _assert_in_order(results["one"], requests)
        _assert_in_order(results["two"], requests)
        assert len(server.received) == 200


def test_poll_many_equals_the_sync_pollers_poll_many(batch: BatchPoller) -> None:
    with AgentServer() as server:
        server.on("Host.getVMList", _vms_by_path)
        requests = _requests(server, 20)
        session = make_session(FAST)
        sync = HostPoller(AgentClient(session, FAST)).poll_many(requests)
        session.close()
        assert batch.poll_many(requests) == sync
        _assert_in_order(sync, requests)


def test_poll_many_never_raises_for_agent_trouble(batch: BatchPoller) -> None:
    with AgentServer() as server:
        server.on("Host.getVMList", _vms_by_path)
        server.on("Host.getStats", raw(b"nope", status=503))
        good = _requests(server, 3)
        requests = [
            good[0],
            PollRequest("refused", _closed_port_url(), 1.0),
            good[1],
            PollRequest("bad", server.url, 1.0, host_stats=True),
            PollRequest("nonsense", "not a url", 1.0),
            good[2],
        ]
        reports = batch.poll_many(requests)
    assert [r.host_id for r in reports] == [q.host_id for q in requests]
    kinds = [r.error.kind if r.error else None for r in reports]
    unreachable, protocol = FetchErrorKind.UNREACHABLE, FetchErrorKind.PROTOCOL
    assert kinds == [None, unreachable, None, protocol, unreachable, None]


def test_poll_many_keeps_at_most_pool_size_hosts_in_flight() -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def slow(handler: Any, request: dict[str, Any] | None) -> None:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        result([])(handler, request)

    poller = BatchPoller(AgentSettings(read_timeout=5.0, pool_size=4))
    try:
        with AgentServer() as server:
            server.on("Host.getVMList", slow)
            reports = poller.poll_many([PollRequest(f"h{i}", server.url, 1.0) for i in range(24)])
    finally:
        poller.close()
    assert all(r.ok for r in reports)
    assert 2 <= in_flight[1] <= 4


def test_the_loop_thread_starts_on_first_use_and_stops_on_close(batch: BatchPoller) -> None:
    def loop_threads() -> int:
        return sum(t.name == "vurti-batch-poller" for t in threading.enumerate())

    before = loop_threads()
    assert batch.poll_many([]) == []
    assert loop_threads() == before
    with AgentServer() as server:
        server.on("Host.getVMList", _vms_by_path)
        requests = _requests(server, 3)
        _assert_in_order(batch.poll_many(requests), requests)
        assert loop_threads() == before + 1
        batch.close()
        assert loop_threads() == before
        _assert_in_order(batch.poll_many(requests), requests)  # usable again after close


def _in_child(work: Callable[[], object]) -> object:
    """Run `work` in a forked child; return its pickled result (or raise what it raised)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_end)
        try:
            payload = pickle.dumps(("ok", work()))
        except BaseException as exc:  # noqa: BLE001
            payload = pickle.dumps(("error", repr(exc)))
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        status, value = pickle.loads(source.read())
    os.waitpid(pid, 0)
    assert status == "ok", value
    return value


def test_a_batch_poller_works_after_a_fork(batch: BatchPoller) -> None:
    with AgentServer() as server:
        server.on("Host.getVMList", _vms_by_path)
        requests = _requests(server, 10)
        _assert_in_order(batch.poll_many(requests), requests)  # loop thread and connections in the parent

        def in_child() -> list[int]:
            fresh = BatchPoller(AgentSettings(read_timeout=5.0))
            counts = [len(r.vms or ()) for r in fresh.poll_many(requests)]
            inherited = [len(r.vms or ()) for r in batch.poll_many(requests)]  # started afresh in the child
            fresh.close()
            assert inherited == counts
            return counts

        assert _in_child(in_child) == [i % 7 for i in range(10)]
        _assert_in_order(batch.poll_many(requests), requests)  # the parent's loop is untouched
