"""HostPoller and the fetchers against a real agent server: every verb, every failure as data."""

from __future__ import annotations

import pytest

from tests.agent import wire
from tests.agent.server import AgentServer, error, hang, raw
from vurti.agent import AgentClient, HostPoller, InvalidData, VdsFetcher, VmFetcher, make_session
from vurti.agent.plan import PollRequest
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind, HostReport
from vurti.domain.status import VmStatus


@pytest.fixture
def poller(client: AgentClient) -> HostPoller:
    return HostPoller(client)


def _verbs(server: AgentServer) -> list[str]:
    return [request["method"] for request in server.received]


def test_full_poll_in_wire_form(server: AgentServer, poller: HostPoller) -> None:
    a, b, c, d = wire.vm_ids(4)
    server.reply("Host.getCapabilities", wire.capabilities())
    server.reply("Host.getStats", wire.host_stats())
    server.reply(
        "Host.getAllVmStats",
        [
            wire.running_vm(a),
            wire.migration_source(b),
            wire.down_vm(c, 0, 4, "Migration succeeded"),
            wire.postcopy_paused(d),
        ],
    )
    request = PollRequest("h1", server.url, now=100.5, capabilities=True, host_stats=True, full_vms=True,
                          stats_due=True)
    report = poller.poll_request(request)
    assert _verbs(server) == ["Host.getCapabilities", "Host.getStats", "Host.getAllVmStats"]
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


def test_short_poll_asks_only_for_the_vm_list(server: AgentServer, poller: HostPoller) -> None:
    server.reply("Host.getVMList", wire.vm_list(3))
    report = poller.poll_request(PollRequest("h1", server.url, now=1.0))
    assert _verbs(server) == ["Host.getVMList"]
    assert server.received[0]["params"] == {"onlyUUID": False}
    assert report.ok and not report.vms_full and not report.stats_due
    assert report.vms is not None and len(report.vms) == 3 and report.stats is None


def test_no_vms_when_not_asked(server: AgentServer, poller: HostPoller) -> None:
    server.reply("Host.getStats", wire.host_stats())
    report = poller.poll_request(PollRequest("h1", server.url, now=1.0, host_stats=True, vms=False))
    assert _verbs(server) == ["Host.getStats"]
    assert report.vms is None and report.stats is not None


def test_first_failure_stops_the_poll_and_keeps_what_came_before(server: AgentServer, poller: HostPoller) -> None:
    server.reply("Host.getCapabilities", wire.capabilities())
    server.on("Host.getStats", raw(b"oops", status=500))
    server.reply("Host.getAllVmStats", wire.all_vm_stats(2))
    request = PollRequest("h1", server.url, now=5.0, capabilities=True, host_stats=True, full_vms=True)
    report = poller.poll_request(request)
    assert _verbs(server) == ["Host.getCapabilities", "Host.getStats"]
    assert report.error is not None and report.error.kind is FetchErrorKind.PROTOCOL
    assert report.error.verb == "Host.getStats"
    assert report.capabilities is not None and report.stats is None and report.vms is None
    assert not report.ok


def test_recovering_agent(server: AgentServer, poller: HostPoller) -> None:
    server.on("*", error(99, "Recovering from crash or Initializing"))
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0, host_stats=True, full_vms=True))
    assert report.error is not None and report.error.is_recovering and report.error.code == 99
    assert report.vms is None


def test_timeout_is_reported_not_raised(server: AgentServer, session: object) -> None:
    server.on("Host.getVMList", hang)
    poller = HostPoller(AgentClient(session, AgentSettings(read_timeout=0.2)))  # type: ignore[arg-type]
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0))
    assert report.error is not None and report.error.kind is FetchErrorKind.TIMEOUT
    assert report.error.is_network_failure and report.error.verb == "Host.getVMList"


def test_unreachable_is_reported_not_raised(poller: HostPoller) -> None:
    report = poller.poll_request(PollRequest("h1", "http://127.0.0.1:1/", now=5.0, host_stats=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.UNREACHABLE


@pytest.mark.parametrize("result", [{"vms": []}, "no", None, 7])
def test_result_of_the_wrong_shape_is_invalid_data(server: AgentServer, poller: HostPoller, result: object) -> None:
    server.reply("Host.getAllVmStats", result)
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.INVALID_DATA
    assert report.vms is None


def test_bare_uuids_from_old_vdsm_are_invalid_data(server: AgentServer, poller: HostPoller) -> None:
    server.reply("Host.getVMList", wire.vm_ids(2))
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0))
    assert report.error is not None and report.error.kind is FetchErrorKind.INVALID_DATA


def test_bad_entries_make_the_report_partial_with_warnings(server: AgentServer, poller: HostPoller) -> None:
    a, b = wire.vm_ids(2)
    server.reply("Host.getAllVmStats", [wire.running_vm(a), "garbage", wire.running_vm(b, status="Exotic", cpuUser={})])
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.ok and report.partial
    assert report.vms is not None and [vm.vm_id for vm in report.vms] == [a, b]
    assert report.vms[1].problem == "unknown VM status 'Exotic'"
    assert len(report.warnings) == 2


def test_per_vm_problems_alone_do_not_make_the_report_partial(server: AgentServer, poller: HostPoller) -> None:
    (a,) = wire.vm_ids(1)
    server.reply("Host.getAllVmStats", [wire.running_vm(a, status="Exotic")])
    report = poller.poll_request(PollRequest("h1", server.url, now=5.0, full_vms=True))
    assert report.ok and not report.partial


def test_fetchers_raise_for_callers_that_want_exceptions(server: AgentServer, client: AgentClient) -> None:
    server.reply("Host.getStats", [])
    server.reply("Host.getVMList", wire.vm_list(2))
    with pytest.raises(InvalidData):
        VdsFetcher(client).host_stats(server.url)
    fetched = VmFetcher(client).vm_list(server.url)
    assert fetched.complete and not fetched.full and len(fetched.vms) == 2


def test_one_session_serves_many_hosts(poller: HostPoller) -> None:
    with AgentServer() as one, AgentServer() as two:
        one.reply("Host.getVMList", wire.vm_list(1))
        two.reply("Host.getVMList", wire.vm_list(2))
        assert len(poller.poll_request(PollRequest("h1", one.url, now=1.0)).vms or ()) == 1
        assert len(poller.poll_request(PollRequest("h2", two.url, now=1.0)).vms or ()) == 2


def test_make_session_uses_the_pool_size_and_no_retries() -> None:
    session = make_session(AgentSettings(pool_size=7))
    adapter = session.get_adapter("https://agent.example/")
    assert adapter._pool_maxsize == 7  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]
    assert session.trust_env is False
