"""BatchPoller over real STOMP agents on 127.0.0.1: polls in VDSM's wire form, failures as data, many hosts, threads."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.agent import wire
from tests.agent.helpers import closed_port_url
from tests.agent.server import AgentServer, Behaviour, Request, delay, drop, echo, error, hang, raw, result
from tests.support.procs import wait_for
from vurti.agent import AgentErrorReply, PollRequest
from vurti.agent.aio import BatchPoller
from vurti.agent.links import AgentLinks
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind, HostReport
from vurti.domain.status import VmStatus


@pytest.fixture
def batch() -> Iterator[BatchPoller]:
    poller = BatchPoller(AgentSettings(connect_timeout=1.0, read_timeout=5.0, pool_size=16))
    yield poller
    poller.close()


@pytest.fixture
def fast() -> Iterator[BatchPoller]:
    poller = BatchPoller(AgentSettings(connect_timeout=1.0, read_timeout=0.3, pool_size=16))
    yield poller
    poller.close()


# --- one poll ------------------------------------------------------------------------------


def test_full_poll_in_wire_form(server: AgentServer, batch: BatchPoller) -> None:
    a, b, c, d = wire.vm_ids(4)
    server.reply("Host.getCapabilities", wire.capabilities())
    server.reply("Host.getStats", wire.host_stats())
    vms = [wire.running_vm(a), wire.migration_source(b), wire.down_vm(c, 0, 4, "Migration succeeded"),
           wire.postcopy_paused(d)]
    server.reply("Host.getAllVmStats", vms)
    request = PollRequest("h1", server.url, now=100.5, capabilities=True, host_stats=True, full_vms=True,
                          stats_due=True)
    report = batch.poll(request)
    assert server.methods == ["Host.getCapabilities", "Host.getStats", "Host.getAllVmStats"]
    assert report.ok and report.host_id == "h1" and report.fetched_at == 100.5
    assert report.stats_due and report.vms_full and not report.partial and report.warnings == ()
    assert report.capabilities is not None and report.capabilities.vdsm_version == "4.50.7"
    assert report.stats is not None and report.stats.boot_time == "1764000000"
    assert report.vms is not None
    statuses = {vm.vm_id: vm.status for vm in report.vms}
    assert statuses == {a: VmStatus.Up, b: VmStatus.MigratingFrom, c: VmStatus.Down, d: VmStatus.Paused}
    down = next(vm for vm in report.vms if vm.vm_id == c)
    assert (down.exit_code, down.exit_reason) == (0, 4)
    assert HostReport.from_json(report.to_json()) == report


def test_short_poll_asks_only_for_the_vm_list(server: AgentServer, batch: BatchPoller) -> None:
    server.reply("Host.getVMList", wire.vm_list(3))
    report = batch.poll(PollRequest("h1", server.url, now=1.0))
    assert server.methods == ["Host.getVMList"]
    assert server.received[0]["params"] == {"onlyUUID": False}
    assert report.ok and not report.vms_full and not report.stats_due
    assert report.vms is not None and len(report.vms) == 3 and report.stats is None


def test_no_vms_when_not_asked(server: AgentServer, batch: BatchPoller) -> None:
    server.reply("Host.getStats", wire.host_stats())
    report = batch.poll(PollRequest("h1", server.url, now=1.0, host_stats=True, vms=False))
    assert server.methods == ["Host.getStats"]
    assert report.vms is None and report.stats is not None


def test_the_poll_stops_at_the_first_failure_and_keeps_what_came_before(
    server: AgentServer, batch: BatchPoller
) -> None:
    server.reply("Host.getCapabilities", wire.capabilities())
    server.on("Host.getStats", raw(b"oops"))
    server.reply("Host.getAllVmStats", wire.all_vm_stats(2))
    request = PollRequest("h1", server.url, now=5.0, capabilities=True, host_stats=True, full_vms=True)
    report = batch.poll(request)
    assert server.methods == ["Host.getCapabilities", "Host.getStats"]
    assert report.error is not None and report.error.kind is FetchErrorKind.PROTOCOL
    assert report.error.verb == "Host.getStats"
    assert report.capabilities is not None and report.stats is None and report.vms is None
    assert not report.ok


def _healthy(server: AgentServer) -> None:
    server.reply("Host.getCapabilities", wire.capabilities())
    server.reply("Host.getStats", wire.host_stats())
    server.reply("Host.getVMList", wire.vm_list(2))


FAILURES: list[tuple[str, Callable[[AgentServer], object], FetchErrorKind, int | None]] = [
    ("no reply", lambda s: s.on("Host.getStats", hang), FetchErrorKind.TIMEOUT, None),
    ("connection dropped", lambda s: s.on("Host.getStats", drop), FetchErrorKind.UNREACHABLE, None),
    ("not json", lambda s: s.on("Host.getStats", raw(b"<html/>")), FetchErrorKind.PROTOCOL, None),
    ("recovering", lambda s: s.on("Host.getStats", error(99, "Recovering from crash or Initializing")),
     FetchErrorKind.AGENT_ERROR, 99),
    ("wrong shape", lambda s: s.reply("Host.getStats", []), FetchErrorKind.INVALID_DATA, None),
]


@pytest.mark.parametrize("setup, kind, code", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_a_failure_is_reported_with_its_kind_and_verb(
    server: AgentServer, fast: BatchPoller, setup: Callable[[AgentServer], object], kind: FetchErrorKind,
    code: int | None,
) -> None:
    _healthy(server)
    setup(server)
    report = fast.poll(PollRequest("h1", server.url, now=5.0, capabilities=True, host_stats=True))
    assert report.error is not None and report.error.kind is kind and report.error.code == code
    assert report.error.verb == "Host.getStats"
    assert report.capabilities is not None and report.stats is None and report.vms is None
    assert server.methods == ["Host.getCapabilities", "Host.getStats"]


@pytest.mark.parametrize(
    "url", [closed_port_url, lambda: "ftp://127.0.0.1:1"], ids=["nothing listening", "invalid address"]
)
def test_a_host_that_cannot_be_reached_is_unreachable_on_the_first_verb(
    fast: BatchPoller, url: Callable[[], str]
) -> None:
    report = fast.poll(PollRequest("h1", url(), now=5.0, host_stats=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.UNREACHABLE
    assert report.error.verb == "Host.getStats"
    assert report.error.is_network_failure


def test_a_host_that_refuses_connect_is_a_protocol_failure(fast: BatchPoller) -> None:
    with AgentServer(refuse_connect="Version unsupported") as server:
        report = fast.poll(PollRequest("h1", server.url, now=5.0))
    assert report.error is not None and report.error.kind is FetchErrorKind.PROTOCOL
    assert "Version unsupported" in report.error.message and report.error.verb == "Host.getVMList"


@pytest.mark.parametrize("value", [{"vms": []}, "no", None, 7])
def test_a_result_of_the_wrong_shape_is_invalid_data(server: AgentServer, batch: BatchPoller, value: object) -> None:
    server.reply("Host.getAllVmStats", value)
    report = batch.poll(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.INVALID_DATA
    assert report.vms is None


def test_bare_uuids_from_old_vdsm_are_invalid_data(server: AgentServer, batch: BatchPoller) -> None:
    server.reply("Host.getVMList", wire.vm_ids(2))
    report = batch.poll(PollRequest("h1", server.url, now=5.0))
    assert report.error is not None and report.error.kind is FetchErrorKind.INVALID_DATA


def test_bad_entries_make_the_report_partial_with_warnings(server: AgentServer, batch: BatchPoller) -> None:
    a, b = wire.vm_ids(2)
    server.reply("Host.getAllVmStats", [wire.running_vm(a), "garbage", wire.running_vm(b, status="Exotic", cpuUser={})])
    report = batch.poll(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.ok and report.partial
    assert report.vms is not None and [vm.vm_id for vm in report.vms] == [a, b]
    assert report.vms[1].problem == "unknown VM status 'Exotic'"
    assert len(report.warnings) == 2


def test_per_vm_problems_alone_do_not_make_the_report_partial(server: AgentServer, batch: BatchPoller) -> None:
    (a,) = wire.vm_ids(1)
    server.reply("Host.getAllVmStats", [wire.running_vm(a, status="Exotic")])
    report = batch.poll(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.ok and not report.partial


# --- many hosts ----------------------------------------------------------------------------


HOSTS = 5  # servers; host i runs i VMs, so each report shows which host answered


@pytest.fixture
def hosts() -> Iterator[list[AgentServer]]:
    with ExitStack() as stack:
        servers = [stack.enter_context(AgentServer()) for _ in range(HOSTS)]
        for i, server in enumerate(servers):
            server.reply("Host.getVMList", wire.vm_list(i))
        yield servers


def _requests(hosts: list[AgentServer], n: int) -> list[PollRequest]:
    return [PollRequest(f"h{i}", hosts[i % HOSTS].url, now=1.0 + i) for i in range(n)]


def _assert_in_order(reports: list[HostReport], requests: list[PollRequest]) -> None:
    assert [r.host_id for r in reports] == [q.host_id for q in requests]
    assert [r.fetched_at for r in reports] == [q.now for q in requests]
    for i, report in enumerate(reports):
        assert report.ok and report.vms is not None and len(report.vms) == i % HOSTS, report


def test_poll_many_polls_many_hosts_at_once_on_one_connection_each(
    hosts: list[AgentServer], batch: BatchPoller
) -> None:
    requests = _requests(hosts, 50)
    _assert_in_order(batch.poll_many(requests), requests)
    _assert_in_order(batch.poll_many(requests), requests)
    assert [server.connections for server in hosts] == [1] * HOSTS
    assert [len(server.received) for server in hosts] == [20] * HOSTS
    assert batch.open_links() == HOSTS


def test_poll_many_returns_reports_in_order_to_two_threads_at_once(
    hosts: list[AgentServer], batch: BatchPoller
) -> None:
    requests = _requests(hosts, 100)
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
    assert sum(len(server.received) for server in hosts) == 200
    assert [server.connections for server in hosts] == [1] * HOSTS


def test_poll_many_never_raises_for_agent_trouble(hosts: list[AgentServer], fast: BatchPoller) -> None:
    hosts[1].on("Host.getStats", raw(b"nope"))
    hosts[2].on("Host.getVMList", hang)
    requests = [
        PollRequest("ok", hosts[3].url, 1.0),
        PollRequest("refused", closed_port_url(), 1.0),
        PollRequest("bad", hosts[1].url, 1.0, host_stats=True),
        PollRequest("silent", hosts[2].url, 1.0),
        PollRequest("nonsense", "ftp://127.0.0.1:1", 1.0),
        PollRequest("ok too", hosts[4].url, 1.0),
    ]
    reports = fast.poll_many(requests)
    assert [r.host_id for r in reports] == [q.host_id for q in requests]
    kinds = [r.error.kind if r.error else None for r in reports]
    assert kinds == [None, FetchErrorKind.UNREACHABLE, FetchErrorKind.PROTOCOL, FetchErrorKind.TIMEOUT,
                     FetchErrorKind.UNREACHABLE, None]


def _counting(in_flight: list[int], then: Behaviour) -> Behaviour:
    """`then` after a short delay, counting the requests under way at once (now, most)."""

    async def behave(request: Request) -> None:
        in_flight[0] += 1  # the server's loop is one thread: no lock needed
        in_flight[1] = max(in_flight[1], in_flight[0])
        try:
            await delay(0.05, then)(request)
        finally:
            in_flight[0] -= 1

    return behave


def test_poll_many_keeps_at_most_pool_size_hosts_in_flight(server: AgentServer) -> None:
    in_flight = [0, 0]
    server.on("Host.getVMList", _counting(in_flight, result([])))
    poller = BatchPoller(AgentSettings(read_timeout=5.0, pool_size=4))
    try:
        reports = poller.poll_many([PollRequest(f"h{i}", server.url, 1.0) for i in range(24)])
    finally:
        poller.close()
    assert all(r.ok for r in reports)
    assert 2 <= in_flight[1] <= 4


# --- single calls and threads --------------------------------------------------------------


def test_call_from_many_threads_at_once_shares_one_connection(server: AgentServer, batch: BatchPoller) -> None:
    server.on("Test.echo", echo)
    server.on("Test.fail", error(99, "Recovering from crash or Initializing"))
    outcomes: dict[int, list[Any]] = {}
    start = threading.Barrier(8)

    def caller(t: int) -> None:
        start.wait(10)
        got: list[Any] = []
        for i in range(5):
            got.append(batch.call(server.url, "Test.echo", {"thread": t, "i": i}))
        try:
            batch.call(server.url, "Test.fail")
        except AgentErrorReply as exc:
            got.append(exc.code)
        outcomes[t] = got

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == {t: [{"thread": t, "i": i} for i in range(5)] + [99] for t in range(8)}
    assert server.connections == 1


def _loop_threads() -> int:
    return sum(t.name == "vurti-batch-poller" for t in threading.enumerate())


def test_the_loop_thread_starts_on_first_use_and_stops_on_close(
    hosts: list[AgentServer], batch: BatchPoller
) -> None:
    before = _loop_threads()
    assert batch.poll_many([]) == []
    assert _loop_threads() == before
    requests = _requests(hosts, 5)
    _assert_in_order(batch.poll_many(requests), requests)
    assert _loop_threads() == before + 1
    batch.close()
    assert _loop_threads() == before
    wait_for(lambda: all(server.open_connections() == 0 for server in hosts), timeout=5,
             what="close to drop every connection")
    _assert_in_order(batch.poll_many(requests), requests)  # usable again after close
    assert [server.connections for server in hosts] == [2] * HOSTS


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


def test_a_forked_child_gets_its_own_loop_and_links(hosts: list[AgentServer], batch: BatchPoller) -> None:
    requests = _requests(hosts, 10)
    _assert_in_order(batch.poll_many(requests), requests)  # loop thread and links in the parent

    def in_child() -> list[int]:
        fresh = BatchPoller(AgentSettings(read_timeout=5.0))
        counts = [len(r.vms or ()) for r in fresh.poll_many(requests)]
        inherited = [len(r.vms or ()) for r in batch.poll_many(requests)]  # started afresh in the child
        fresh.close()
        assert inherited == counts
        return counts

    assert _in_child(in_child) == [i % HOSTS for i in range(10)]
    _assert_in_order(batch.poll_many(requests), requests)  # the parent's loop and links are untouched
    assert [server.connections for server in hosts] == [3] * HOSTS  # the parent's one, two in the child


def test_repr_keeps_the_client_key_out() -> None:
    settings = AgentSettings(cert_file="/etc/pki/vurti/client.pem", key_file="/etc/pki/vurti/secret-client.key")
    assert "secret-client.key" not in repr(BatchPoller(settings))
    assert "secret-client.key" not in repr(AgentLinks(settings))


@pytest.mark.parametrize("stage", ["opening", "open"])
def test_close_gives_the_polls_in_flight_their_reports(stage: str) -> None:
    """A worker shutting down its poller must not leave a polling thread blocked, or raising."""
    with AgentServer(answer_connect=stage == "open") as server:
        server.on("Host.getVMList", hang)
        poller = BatchPoller(AgentSettings(connect_timeout=5.0, read_timeout=5.0))
        outcome: list[object] = []

        def poll() -> None:
            try:
                outcome.append(poller.poll_many([PollRequest(f"h{i}", server.url, 1.0) for i in range(3)]))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                outcome.append(exc)

        thread = threading.Thread(target=poll)
        thread.start()
        wait_for(lambda: server.frames("SEND" if stage == "open" else "CONNECT"), timeout=5, what=f"a link {stage}")
        poller.close()
        thread.join(3)
        assert not thread.is_alive(), "the polling thread is still blocked after close()"
    (reports,) = outcome
    assert isinstance(reports, list), reports
    assert all(r.error is not None and r.error.kind is FetchErrorKind.UNREACHABLE for r in reports)
    assert all("closed by vurti" in r.error.message for r in reports if r.error is not None)
