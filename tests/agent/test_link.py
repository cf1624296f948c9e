"""Links to a real STOMP agent on 127.0.0.1: VDSM's dialect, calls multiplexed by id, and every way a link fails."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid
from typing import Any

import orjson
import pytest

from tests.agent.helpers import agent_links, aio, closed_port_url, until
from tests.agent.server import (
    AgentServer,
    OutOfOrder,
    StreamStats,
    drop,
    echo,
    error,
    hang,
    huge,
    in_pieces,
    malformed,
    raw,
    result,
    truncated,
    when,
)
from vurti.agent import AgentErrorReply, AgentTimeout, AgentUnreachable, ProtocolError, parse_address, to_fetch_error
from vurti.agent import links as links_module
from vurti.agent.address import AgentAddress
from vurti.agent.link import Link
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind

SHORT = AgentSettings(connect_timeout=1.0, read_timeout=0.3)
PATIENT = AgentSettings(connect_timeout=1.0, read_timeout=5.0)


def _is_uuid(text: object) -> bool:
    try:
        return str(uuid.UUID(str(text))) == text
    except ValueError:
        return False


# --- the dialect ---------------------------------------------------------------------------


@aio
async def test_a_call_returns_its_result_and_sends_one_jsonrpc_object(server: AgentServer) -> None:
    server.on("*", echo)
    async with agent_links() as links:
        assert await links.call(server.url, "Host.getVMList", {"onlyUUID": False}) == {"onlyUUID": False}
        assert await links.call(server.url, "Host.ping2") == {}  # params default to an empty object
    first, second = server.received
    assert first["jsonrpc"] == "2.0" and first["method"] == "Host.getVMList" and first["params"] == {"onlyUUID": False}
    assert _is_uuid(first["id"]) and _is_uuid(second["id"]) and first["id"] != second["id"]
    (send, _) = server.frames("SEND")
    assert send.headers["destination"] == "jms.topic.vdsm_requests"
    assert int(send.headers["content-length"]) == len(send.body)


@aio
async def test_connect_and_subscribe_as_the_engine_does(server: AgentServer) -> None:
    server.reply("Host.ping2", True)
    async with agent_links(AgentSettings(heartbeat=7.5)) as links:
        assert await links.call(server.url, "Host.ping2") is True
    commands = [frame.command for frame in server.frames()]
    assert commands == ["CONNECT", "SUBSCRIBE", "SEND"]  # CONNECT, never STOMP; no ACK, NACK or BEGIN
    (connect,) = server.frames("CONNECT")
    assert connect.headers == {"accept-version": "1.2", "host": "null", "heart-beat": "0,7500"}
    (subscribe,) = server.frames("SUBSCRIBE")
    reply_to = subscribe.headers["destination"]
    assert _is_uuid(reply_to) and reply_to != "jms.topic.vdsm_responses"  # private, never the engine's
    assert subscribe.headers["ack"] == "auto" and subscribe.headers["id"]
    (send,) = server.frames("SEND")
    assert send.headers["reply-to"] == reply_to
    assert isinstance(orjson.loads(send.body), dict)  # one request per frame, never a batch


@aio
async def test_each_link_has_a_reply_destination_of_its_own() -> None:
    with AgentServer() as one, AgentServer() as two:
        one.reply("Host.ping2", True)
        two.reply("Host.ping2", True)
        async with agent_links() as links:
            await asyncio.gather(links.call(one.url, "Host.ping2"), links.call(two.url, "Host.ping2"))
        (a,), (b,) = one.frames("SUBSCRIBE"), two.frames("SUBSCRIBE")
    assert a.headers["destination"] != b.headers["destination"]


@aio
async def test_frames_split_across_tcp_writes_are_put_together(
    server: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = {"vmId": "a:b\\c", "text": "x" * 300}  # ':' and '\\' in the body are not header escapes
    server.on("Host.getStats", in_pieces(value, size=3))
    reads: list[int] = []
    received = Link.data_received

    def counted(link: Link, data: bytes) -> None:
        reads.append(len(data))
        received(link, data)

    monkeypatch.setattr(Link, "data_received", counted)
    async with agent_links() as links:
        assert await links.call(server.url, "Host.getStats") == value
    assert len(reads) > 20  # the reply really came in pieces, not in one read


# --- many calls on one connection ----------------------------------------------------------


@aio
async def test_concurrent_calls_share_one_connection_and_replies_out_of_order_are_routed_by_id(
    server: AgentServer,
) -> None:
    n = 20
    server.on("Test.echo", OutOfOrder(n))
    async with agent_links() as links:
        results = await asyncio.gather(*(links.call(server.url, "Test.echo", {"n": i}) for i in range(n)))
        assert links.open_count() == 1
    assert results == [{"n": i} for i in range(n)]
    assert server.connections == 1
    sent = [request["id"] for request in server.received]
    answered = [reply["id"] for reply in server.replies]
    assert answered == sent[::-1] and len(set(sent)) == n  # newest first: the order really was reversed


@aio
async def test_concurrent_first_calls_open_a_single_connection(server: AgentServer) -> None:
    server.on("Test.echo", echo)
    async with agent_links() as links:
        await asyncio.gather(*(links.call(server.url, "Test.echo", {"n": i}) for i in range(10)))
    assert server.connections == 1


@aio
async def test_a_call_without_a_reply_times_out_alone_and_the_link_stays(server: AgentServer) -> None:
    server.on("Test.hang", hang).on("Test.echo", echo)
    async with agent_links(SHORT) as links:
        started = time.monotonic()
        hung = asyncio.ensure_future(links.call(server.url, "Test.hang"))
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}
        with pytest.raises(AgentTimeout, match=r"Test.hang to stomp://127.0.0.1:\d+: no reply within 0.3 s") as info:
            await hung
        assert 0.3 <= time.monotonic() - started < 1.5
        assert info.value.kind is FetchErrorKind.TIMEOUT
        assert await links.call(server.url, "Test.echo", {"n": 2}) == {"n": 2}
    assert server.connections == 1


@aio
async def test_a_reply_that_trickles_in_still_times_out_at_read_timeout(server: AgentServer) -> None:
    """read_timeout bounds the whole call, not the silence between two reads."""
    server.on("Host.getStats", in_pieces({"text": "x" * 3000}, size=1))  # one byte a millisecond, or slower
    async with agent_links(SHORT) as links:
        started = time.monotonic()
        with pytest.raises(AgentTimeout, match=r"no reply within 0\.3 s"):
            await links.call(server.url, "Host.getStats")
        assert time.monotonic() - started < 1.0


@aio
async def test_a_late_reply_to_a_timed_out_call_is_dropped(server: AgentServer) -> None:
    """The late reply arrives while another call is in flight: it must not answer that one."""
    server.on("Test.slow", when(lambda: "Test.later" in server.methods, result("late")))
    server.on("Test.later", when(lambda: any(r["result"] == "late" for r in server.replies), echo))
    async with agent_links(SHORT) as links:
        with pytest.raises(AgentTimeout):
            await links.call(server.url, "Test.slow")
        assert await links.call(server.url, "Test.later", {"n": 3}) == {"n": 3}
        assert links.open_count() == 1
    assert [r["result"] for r in server.replies] == ["late", {"n": 3}]  # in that order, on one connection
    assert server.connections == 1


@aio
async def test_a_reply_for_another_client_is_not_taken_for_ours(server: AgentServer) -> None:
    server.on("Host.ping2", raw(b'{"jsonrpc":"2.0","id":"9b1de0a5-5f55-4a44-8d52-5a3b6a0c2f11","result":true}'))
    async with agent_links(SHORT) as links:
        with pytest.raises(AgentTimeout):
            await links.call(server.url, "Host.ping2")


# --- replies that are errors ---------------------------------------------------------------


@aio
async def test_a_jsonrpc_error_keeps_its_code(server: AgentServer) -> None:
    server.on("Host.getAllVmStats", error(99, "Recovering from crash or Initializing"))
    server.on("VM.getStats", error(1, "Virtual machine does not exist")).on("Test.echo", echo)
    async with agent_links() as links:
        with pytest.raises(AgentErrorReply, match="code 99") as recovering:
            await links.call(server.url, "Host.getAllVmStats")
        with pytest.raises(AgentErrorReply, match="does not exist") as gone:
            await links.call(server.url, "VM.getStats", {"vmID": "x"})
        with pytest.raises(AgentErrorReply) as unknown:
            await links.call(server.url, "Host.noSuchVerb")
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}  # the link survives errors
    assert recovering.value.is_recovering and recovering.value.code == 99
    fetch_error = to_fetch_error(recovering.value, "Host.getAllVmStats")
    assert fetch_error.kind is FetchErrorKind.AGENT_ERROR and fetch_error.is_recovering
    assert gone.value.no_such_vm and not gone.value.is_recovering
    assert unknown.value.code == -32601
    assert server.connections == 1


@aio
async def test_a_verb_the_host_does_not_know_is_refused_on_that_link_without_asking_again(
    server: AgentServer,
) -> None:
    """VDSM 4.30 has no Host.dumpxmls: one round trip per link tells it, later calls fail at once."""
    server.on("Test.echo", echo)
    async with agent_links() as links:
        for _ in range(3):
            with pytest.raises(AgentErrorReply) as unknown:
                await links.call(server.url, "Host.dumpxmls", {"vmList": []})
            assert unknown.value.method_not_found
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}  # other verbs still go
        assert [r["method"] for r in server.received] == ["Host.dumpxmls", "Test.echo"]
        server.drop_all()  # a new connection (a restarted, perhaps upgraded, VDSM) is asked again
        await until(lambda: links.open_count() == 0, what="the dropped link seen")
        with pytest.raises(AgentErrorReply):
            await links.call(server.url, "Host.dumpxmls", {"vmList": []})
    assert [r["method"] for r in server.received] == ["Host.dumpxmls", "Test.echo", "Host.dumpxmls"]
    assert server.connections == 2


def _with_id(template: bytes) -> Any:
    return lambda request: template.replace(b"$ID", orjson.dumps(request.id))


REPLIES = [
    ("batch of one", _with_id(b'[{"jsonrpc":"2.0","id":$ID,"result":true}]'), None, "", None),
    ("not json", b"<html>not json</html>", ProtocolError, "is not JSON", None),
    ("truncated json", b'{"jsonrpc":"2.0","id":"x","result":[{"vmId":', ProtocolError, "is not JSON", None),
    ("a list", b"[1, 2]", ProtocolError, "not a JSON object", None),
    ("not jsonrpc", _with_id(b'{"id":$ID,"result":true}'), ProtocolError, "not a JSON-RPC 2.0 reply", None),
    ("no result", _with_id(b'{"jsonrpc":"2.0","id":$ID}'), ProtocolError, "neither result nor error", None),
    ("malformed error", _with_id(b'{"jsonrpc":"2.0","id":$ID,"error":"boom"}'), ProtocolError, "malformed", None),
    ("error code a string", _with_id(b'{"jsonrpc":"2.0","id":$ID,"error":{"code":"1","message":"x"}}'),
     ProtocolError, "malformed", None),
    ("parse error, null id", b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
     AgentErrorReply, "Parse error", -32700),
]


@pytest.mark.parametrize("body, expected, match, code", [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES])
@aio
async def test_replies_are_judged_by_their_envelope(
    server: AgentServer, body: Any, expected: type[Exception] | None, match: str, code: int | None
) -> None:
    server.on("Host.getStats", raw(body)).on("Test.echo", echo)
    async with agent_links() as links:
        if expected is None:
            assert await links.call(server.url, "Host.getStats") is True
        else:
            with pytest.raises(expected, match=match) as info:
                await links.call(server.url, "Host.getStats")
            assert getattr(info.value, "code", None) == code
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}  # the connection is still good
    assert server.connections == 1


# --- a link that breaks --------------------------------------------------------------------


async def _in_flight(links: Any, server: AgentServer, n: int) -> list[asyncio.Future[Any]]:
    """`n` hanging calls, once the server has all of them."""
    calls = [asyncio.ensure_future(links.call(server.url, "Test.hang", {"n": i})) for i in range(n)]
    await until(lambda: len(server.received) >= n, what=f"{n} requests at the server")
    return calls


@aio
async def test_a_dropped_connection_fails_every_call_in_flight_at_once_and_the_next_call_reconnects(
    server: AgentServer,
) -> None:
    server.on("Test.hang", hang).on("Test.echo", echo)
    async with agent_links(PATIENT) as links:
        calls = await _in_flight(links, server, 5)
        started = time.monotonic()
        server.drop_all()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert time.monotonic() - started < 1.0  # the read timeout is 5 s: nobody waited for it
        assert all(isinstance(o, AgentUnreachable) for o in outcomes), outcomes
        assert all(o.message.startswith("Test.hang: connection to") and "lost" in o.message for o in outcomes)
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}
    assert server.connections == 2


@aio
async def test_a_call_that_makes_the_host_drop_the_connection_is_unreachable(server: AgentServer) -> None:
    server.on("Test.drop", drop).on("Test.hang", hang)
    async with agent_links(PATIENT) as links:
        (other,) = await _in_flight(links, server, 1)
        with pytest.raises(AgentUnreachable, match="lost"):
            await links.call(server.url, "Test.drop")
        with pytest.raises(AgentUnreachable, match="lost"):
            await other


@aio
async def test_a_malformed_frame_fails_the_calls_in_flight_and_the_connection(server: AgentServer) -> None:
    server.on("Test.hang", hang).on("Test.bad", malformed).on("Test.echo", echo)
    async with agent_links(PATIENT) as links:
        calls = await _in_flight(links, server, 2)
        calls.append(asyncio.ensure_future(links.call(server.url, "Test.bad")))
        started = time.monotonic()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert time.monotonic() - started < 1.0
        assert all(isinstance(o, ProtocolError) and "malformed STOMP frame" in o.message for o in outcomes), outcomes
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}
    assert server.connections == 2


@aio
async def test_a_frame_cut_short_by_a_closed_connection_is_not_a_reply(server: AgentServer) -> None:
    server.on("Test.cut", truncated(declared=500))
    async with agent_links(PATIENT) as links:
        started = time.monotonic()
        with pytest.raises(AgentUnreachable, match="lost"):
            await links.call(server.url, "Test.cut")
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "no content-length"])
@aio
async def test_a_reply_over_max_reply_bytes_is_refused_without_reading_it(
    server: AgentServer, declare_length: bool
) -> None:
    stats = StreamStats()
    total = 50 * 1024 * 1024
    server.on("Host.getAllVmStats", huge(total, stats, declare_length)).on("Test.echo", echo)
    async with agent_links() as links:  # max_reply_bytes = 1 MiB
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(ProtocolError, match=r"over the limit of 1048576|without NUL within 1048576"):
                await links.call(server.url, "Host.getAllVmStats")
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await until(stats.done.is_set, timeout=10, what="the server to see the client leave")
        assert stats.sent < total / 2, f"the server got {stats.sent} bytes out: the client kept reading"
        assert peak < 8 * 1024 * 1024 and elapsed < 5.0
        assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}  # on a new connection
    assert server.connections == 2


# --- opening a link ------------------------------------------------------------------------


@aio
async def test_error_on_connect_is_a_protocol_error() -> None:
    with AgentServer(refuse_connect="Version unsupported") as server:
        async with agent_links() as links:
            with pytest.raises(ProtocolError, match=r"Host\.ping2: .* refused CONNECT: Version unsupported"):
                await links.call(server.url, "Host.ping2")
        assert server.frames("SEND") == []  # nothing is sent before CONNECTED


@aio
async def test_no_connected_within_connect_timeout_is_a_timeout() -> None:
    with AgentServer(answer_connect=False) as server:
        async with agent_links(AgentSettings(connect_timeout=0.3)) as links:
            started = time.monotonic()
            with pytest.raises(AgentTimeout, match=r"no CONNECTED within 0\.3 s"):
                await links.call(server.url, "Host.ping2")
            assert time.monotonic() - started < 1.5
        assert server.frames("SEND") == []


@aio
async def test_nothing_listening_is_unreachable() -> None:
    async with agent_links() as links:
        with pytest.raises(AgentUnreachable, match=r"Host.getStats: connect to stomp://127.0.0.1:\d+") as info:
            await links.call(closed_port_url(), "Host.getStats")
    assert to_fetch_error(info.value, "Host.getStats").is_network_failure


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "", "stomp://127.0.0.1:0"])
@aio
async def test_an_invalid_address_is_unreachable_with_a_clear_message(url: str) -> None:
    async with agent_links() as links:
        with pytest.raises(AgentUnreachable, match="invalid agent address"):
            await links.call(url, "Host.getStats")


@aio
async def test_credentials_in_an_address_stay_out_of_messages() -> None:
    async with agent_links() as links:
        for url in ("stomp://admin:hunter2@127.0.0.1:1", "admin:hunter2@127.0.0.1"):
            with pytest.raises(AgentUnreachable) as info:
                await links.call(url, "Host.getStats")
            assert "hunter2" not in info.value.message


@aio
async def test_after_a_failed_connect_calls_fail_at_once_until_the_backoff_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(links_module, "BACKOFF_FIRST", 0.3)
    with AgentServer(refuse_connect="not now") as server:
        server.reply("Host.ping2", True)
        async with agent_links() as links:
            with pytest.raises(ProtocolError, match="refused CONNECT"):
                await links.call(server.url, "Host.ping2")
            failed_at = time.monotonic()
            server.refuse_connect = None  # the host is back, but the backoff still holds
            during: list[Exception] = []
            while True:
                try:
                    assert await links.call(server.url, "Host.ping2") is True
                    break
                except ProtocolError as exc:
                    during.append(exc)
                    assert server.connections == 1  # no attempt during the backoff
                    await asyncio.sleep(0.01)
            waited = time.monotonic() - failed_at
    assert during and all("next attempt in" in exc.message and "refused CONNECT" in exc.message for exc in during)
    assert 0.25 <= waited < 2.0
    assert server.connections == 2


@aio
async def test_the_backoff_doubles_while_the_host_keeps_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links_module, "BACKOFF_FIRST", 0.2)
    with AgentServer(refuse_connect="not now") as server:
        async with agent_links() as links:
            attempts: list[float] = []
            while len(attempts) < 3:
                before = server.connections
                with pytest.raises(ProtocolError):
                    await links.call(server.url, "Host.ping2")
                if server.connections > before:
                    attempts.append(time.monotonic())
                else:
                    await asyncio.sleep(0.01)
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert 0.18 <= first_gap < 0.35 and 0.38 <= second_gap < 0.6


# --- heart-beats ---------------------------------------------------------------------------


@aio
async def test_heartbeats_keep_an_idle_link_and_their_silence_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links_module, "WATCH_PERIOD", 0.02)
    settings = AgentSettings(connect_timeout=1.0, read_timeout=5.0, heartbeat=0.6)  # silent past 0.9 s: broken
    with AgentServer(heartbeat_floor_ms=100) as server:
        server.on("Test.hang", hang).on("Test.echo", echo)
        async with agent_links(settings) as links:
            assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}
            assert server.frames("CONNECT")[0].headers["heart-beat"] == "0,600"
            await until(lambda: server.heartbeats_sent >= 3, what="three heart-beats")  # idle for 1.8 s
            assert links.open_count() == 1 and server.connections == 1
            (hung,) = await _in_flight(links, server, 1)
            server.heartbeats = False
            with pytest.raises(AgentUnreachable, match=r"silent for [\d.]+ s \(heart-beat every 0.6 s\)"):
                await hung
            silent = time.monotonic() - server.last_heartbeat_at
            assert 0.89 <= silent < 2.0  # past 1.5 intervals, long before the 5 s read timeout
            server.heartbeats = True
            assert await links.call(server.url, "Test.echo", {"n": 2}) == {"n": 2}
    assert server.connections == 2


@pytest.mark.parametrize("heartbeat, silence", [(15.0, 22.5), (0.3, 1.5)], ids=["engine's 15 s", "VDSM's 1 s floor"])
@aio
async def test_silence_allowed_is_one_and_a_half_negotiated_intervals(
    server: AgentServer, heartbeat: float, silence: float
) -> None:
    server.reply("Host.ping2", True)
    async with agent_links(AgentSettings(heartbeat=heartbeat)) as links:
        await links.call(server.url, "Host.ping2")
        assert links._links[server.url].rx_timeout == pytest.approx(silence)


@aio
async def test_a_host_that_offers_no_heartbeats_is_not_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links_module, "WATCH_PERIOD", 0.02)
    with AgentServer() as server:
        server.reply("Host.ping2", True)
        async with agent_links(AgentSettings(heartbeat=0)) as links:
            assert await links.call(server.url, "Host.ping2") is True
            assert server.frames("CONNECT")[0].headers["heart-beat"] == "0,0"
            link = links._links[server.url]
            assert link.rx_timeout is None
            links.check(asyncio.get_running_loop().time() + 60)  # a minute of silence later
            assert link.usable


@aio
async def test_idle_links_are_closed_but_event_links_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links_module, "IDLE_CLOSE", 0.1)
    monkeypatch.setattr(links_module, "WATCH_PERIOD", 0.02)
    with AgentServer() as quiet, AgentServer() as eventful:
        quiet.reply("Host.ping2", True)
        eventful.reply("Host.ping2", True)
        async with agent_links() as plain, agent_links(on_event=lambda address, event: None) as watching:
            await plain.call(quiet.url, "Host.ping2")
            await watching.call(eventful.url, "Host.ping2")
            await until(lambda: quiet.open_connections() == 0, what="the idle link to close")
            assert watching.open_count() == 1 and eventful.open_connections() == 1


# --- events --------------------------------------------------------------------------------


@aio
async def test_events_reach_the_handler_with_the_hosts_address(server: AgentServer) -> None:
    server.reply("Host.ping2", True)
    events: list[tuple[AgentAddress, dict[str, Any]]] = []
    vm = "5b7a9c1e-3f2d-4c8e-9a61-0d2f4b6e8a10"
    params = {vm: {"status": "Down", "vmId": vm, "exitCode": 0}, "notify_time": 4295120000}

    def on_event(address: AgentAddress, event: dict[str, Any]) -> None:
        events.append((address, event))
        if len(events) == 1:
            raise RuntimeError("a broken handler must not break the link")

    async with agent_links(on_event=on_event) as links:
        assert await links.call(server.url, "Host.ping2") is True
        destinations = {frame.headers["destination"] for frame in server.frames("SUBSCRIBE")}
        assert "jms.queue.events" in destinations
        server.emit(f"|virt|VM_status|{vm}", params)
        server.emit(f"|virt|VM_status|{vm}", params)
        await until(lambda: len(events) == 2, what="two events")
        assert await links.call(server.url, "Host.ping2") is True
    address, event = events[0]
    assert address == parse_address(server.url)
    assert event == {"jsonrpc": "2.0", "method": f"|virt|VM_status|{vm}", "params": params}
    assert server.connections == 1


@aio
async def test_after_a_reconnect_events_are_subscribed_again_and_each_names_its_host() -> None:
    events: list[tuple[AgentAddress, str]] = []
    with AgentServer() as one, AgentServer() as two:
        for server in (one, two):
            server.reply("Host.ping2", True)
        async with agent_links(on_event=lambda address, event: events.append((address, event["method"]))) as links:
            await asyncio.gather(links.call(one.url, "Host.ping2"), links.call(two.url, "Host.ping2"))
            one.drop_all()
            await until(lambda: links.open_count() == 1, what="the client to see the drop")
            assert await links.call(one.url, "Host.ping2") is True  # reconnects, subscribes again
            one.emit("|virt|VM_status|a", {"a": {}, "notify_time": 1})
            two.emit("|virt|VM_status|b", {"b": {}, "notify_time": 2})
            await until(lambda: len(events) == 2, what="an event from each host")
        assert [f.headers["destination"] for f in one.frames("SUBSCRIBE")].count("jms.queue.events") == 2
    assert sorted(events, key=lambda e: e[1]) == [
        (parse_address(one.url), "|virt|VM_status|a"),
        (parse_address(two.url), "|virt|VM_status|b"),
    ]


@aio
async def test_a_link_without_an_event_handler_does_not_subscribe_to_events(server: AgentServer) -> None:
    server.reply("Host.ping2", True)
    async with agent_links() as links:
        await links.call(server.url, "Host.ping2")
        server.emit("|virt|VM_status|x", {"x": {}, "notify_time": 1})
        assert await links.call(server.url, "Host.ping2") is True
    assert all(frame.headers["destination"] != "jms.queue.events" for frame in server.frames("SUBSCRIBE"))


# --- closing -------------------------------------------------------------------------------


@aio
async def test_close_drops_every_connection_and_fails_calls_in_flight(server: AgentServer) -> None:
    server.on("Test.hang", hang)
    links = links_module.AgentLinks(PATIENT)
    (hung,) = await _in_flight(links, server, 1)
    await links.close()
    with pytest.raises(AgentUnreachable, match="closed by vurti"):
        await hung
    await until(lambda: server.open_connections() == 0, what="the server to see the connection close")


@aio
async def test_close_while_a_link_is_opening_fails_its_callers_as_unreachable() -> None:
    with AgentServer(answer_connect=False) as server:
        links = links_module.AgentLinks(AgentSettings(connect_timeout=5.0))
        waiting = [asyncio.ensure_future(links.call(server.url, "Host.ping2")) for _ in range(2)]
        await until(lambda: server.frames("CONNECT"), what="the link to be opening")
        await links.close()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        await until(lambda: server.open_connections() == 0, what="the half-open connection to be closed")
    assert all(isinstance(o, AgentUnreachable) and "closed by vurti" in o.message for o in outcomes), outcomes
