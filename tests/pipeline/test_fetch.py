"""FetchService against the simulator and a real redis-server: what goes on to the update queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.sim import SimProcess, running_sim
from vurti.agent import vm_digest
from vurti.agent.aio import BatchPoller
from vurti.config import AgentSettings
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.status import HostStatus
from vurti.pipeline.fetch import FetchService
from vurti.runtime.host_cache import HostCache


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=1, vms_per_host=3, seed=4) as s:
        yield s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def parts(sim: SimProcess, redis_url: str) -> Iterator[tuple[FetchService, HostCache, Clock]]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    cache = HostCache(client)
    settings = AgentSettings(read_timeout=5)
    clock = Clock()
    policy = MonitoringPolicy(refresh_interval=3.0, stats_every=1000)  # no statistics cycle in these tests
    poller = BatchPoller(settings)
    service = FetchService(poller, cache, policy, lambda _: sim.host_url("host-0001"), clock, guard_ttl=10,
                           pending_window=9.0)
    yield service, cache, clock
    poller.close()
    client.close()


def _up_with_current_digest(service: FetchService, cache: HostCache) -> None:
    cache.record("h", HostStatus.Up, None)  # an Up host: its forced poll carries the full VM list
    (first,) = service.fetch_many([("h", None)], force=True)
    assert first.report is not None and first.digest == vm_digest(first.report.vms)
    cache.record("h", HostStatus.Up, first.digest)  # as the update does after commit


def test_unchanged_host_sends_nothing(parts: tuple[FetchService, HostCache, Clock]) -> None:
    service, cache, _ = parts
    _up_with_current_digest(service, cache)
    (outcome,) = service.fetch_many([("h", 999.0)])
    assert outcome.report is None and outcome.skipped is None and outcome.due_at == 999.0


def test_a_change_is_sent_once_while_its_update_is_pending(
    parts: tuple[FetchService, HostCache, Clock], sim: SimProcess
) -> None:
    service, cache, clock = parts
    _up_with_current_digest(service, cache)
    vm = sim.control.vms("host-0001")[0]["vm_id"]
    sim.control.pause(vm)
    (changed,) = service.fetch_many([("h", None)])
    assert changed.report is not None and changed.report.vms_full  # re-polled in full for exit/pause details
    clock.now += 1.0
    (again,) = service.fetch_many([("h", None)])
    assert again.report is None  # the same change is already queued
    clock.now += 9.0
    (late,) = service.fetch_many([("h", None)])
    assert late.report is not None  # its update never committed: send it again


@pytest.mark.parametrize("status", [HostStatus.Connecting, HostStatus.Initializing, HostStatus.NonOperational],
                         ids=lambda s: s.name)
def test_a_vm_down_on_a_host_not_up_is_read_in_full(
    parts: tuple[FetchService, HostCache, Clock], sim: SimProcess, status: HostStatus
) -> None:
    """The short list has no exit fields; the Down must reach the update with them."""
    service, cache, _ = parts
    _up_with_current_digest(service, cache)
    (committed,) = service.fetch_many([("h", None)], force=True)
    cache.record("h", status, committed.digest)
    vm = sim.control.vms("host-0001")[0]["vm_id"]
    sim.control.crash(vm, message="qemu died")
    (outcome,) = service.fetch_many([("h", None)])
    report = outcome.report
    assert report is not None and report.ok and report.vms_full
    assert report.capabilities is not None and report.stats is not None  # the first round's host data kept
    (down,) = [v for v in report.vms if v.vm_id == vm]
    assert (down.exit_code, down.exit_reason, down.exit_message) == (1, 2, "qemu died")


def test_an_unchanged_short_list_of_a_host_not_up_goes_on_as_it_is(
    parts: tuple[FetchService, HostCache, Clock],
) -> None:
    service, cache, _ = parts
    _up_with_current_digest(service, cache)
    (committed,) = service.fetch_many([("h", None)], force=True)
    cache.record("h", HostStatus.NonOperational, committed.digest)
    (outcome,) = service.fetch_many([("h", None)])
    assert outcome.report is not None and outcome.report.capabilities is not None
    assert outcome.report.vms is not None and not outcome.report.vms_full  # no second round


def test_a_failed_poll_carries_the_last_answered_poll(
    parts: tuple[FetchService, HostCache, Clock], sim: SimProcess
) -> None:
    """Unchanged polls stop at the fetch and write nothing; the grace must still count from them."""
    service, cache, clock = parts
    _up_with_current_digest(service, cache)
    for _ in range(3):
        clock.now += 3.0
        (quiet,) = service.fetch_many([("h", None)])
        assert quiet.report is None and quiet.answered
    last_answered = clock.now
    sim.control.set_fault("host-0001", "refuse")
    try:
        clock.now += 3.0
        (failed,) = service.fetch_many([("h", None)])
    finally:
        sim.control.clear_fault("host-0001")
    assert failed.report is not None and not failed.report.ok and not failed.answered
    assert failed.report.last_answered_at == last_answered


class HintingHolder:
    """The holder's view for the fetch: events do not flow; host "h" hinted a capabilities change."""

    def __init__(self) -> None:
        self.hinted = {"h"}

    def polled(self, host_id: str, url: str) -> None:
        pass

    def pushed(self, host_id: str) -> bool:
        return False

    def capabilities_due(self, host_id: str) -> bool:
        if host_id in self.hinted:
            self.hinted.discard(host_id)
            return True
        return False


def test_an_up_host_that_hinted_a_capabilities_change_sends_them_with_its_next_poll(
    sim: SimProcess, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    cache = HostCache(client)
    poller = BatchPoller(AgentSettings(read_timeout=5))
    try:
        plain = FetchService(poller, cache, MonitoringPolicy(stats_every=1000), lambda _: sim.host_url("host-0001"),
                             Clock(), guard_ttl=10)
        _up_with_current_digest(plain, cache)
        service = FetchService(poller, cache, MonitoringPolicy(stats_every=1000), lambda _: sim.host_url("host-0001"),
                               Clock(), guard_ttl=10, holder=HintingHolder())
        (hinted,) = service.fetch_many([("h", None)])
        assert hinted.report is not None and hinted.report.capabilities is not None and hinted.report.stats is not None
        (steady,) = service.fetch_many([("h", None)])
        assert steady.report is None  # the hint is taken: the steady poll stops at the fetch again
    finally:
        poller.close()
        client.close()
