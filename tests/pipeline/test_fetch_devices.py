"""The devices round of a fetch: Host.dumpxmls only for VMs whose device hash changed, and
Host.getVMFullList instead on a host of VDSM 4.30 (one failed dumpxmls per connection).

FetchService against the simulator (host-0002 of VDSM 4.50, host-0001 of 4.30) and a real
redis-server; the poller is the real one, watched for the requests it is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import redis

from tests.support.sim import SimProcess, running_sim
from vurti.agent import PollRequest, device_digest
from vurti.agent.aio import BatchPoller
from vurti.config import AgentSettings
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostReport
from vurti.domain.status import HostStatus
from vurti.pipeline.fetch import FetchOutcome, FetchService
from vurti.runtime.host_cache import HostCache

LEGACY, HOST = "host-0001", "host-0002"


class Watched:
    """The real poller; remembers the devices rounds it was asked for."""

    def __init__(self, poller: BatchPoller) -> None:
        self.poller = poller
        self.devices_of: list[tuple[str, ...]] = []
        self.rounds = 0

    def poll_many(self, requests: Sequence[PollRequest]) -> list[HostReport]:
        self.rounds += 1
        self.devices_of.extend(r.devices_of for r in requests if r.devices_of)
        return self.poller.poll_many(requests)


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=3, seed=4, extra_args=("--legacy-hosts", "1")) as s:
        yield s


def _parts(sim: SimProcess, redis_url: str, host: str) -> Iterator[tuple[FetchService, HostCache, Watched]]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    cache = HostCache(client)
    watched = Watched(BatchPoller(AgentSettings(read_timeout=5)))
    policy = MonitoringPolicy(refresh_interval=3.0, stats_every=1000)  # no statistics cycle unless forced
    service = FetchService(watched, cache, policy, lambda _: sim.host_url(host), lambda: 1000.0, guard_ttl=10)
    cache.record("h", HostStatus.Up, None)
    yield service, cache, watched
    watched.poller.close()
    client.close()


@pytest.fixture()
def parts(sim: SimProcess, redis_url: str) -> Iterator[tuple[FetchService, HostCache, Watched]]:
    yield from _parts(sim, redis_url, HOST)


@pytest.fixture()
def legacy_parts(sim: SimProcess, redis_url: str) -> Iterator[tuple[FetchService, HostCache, Watched]]:
    yield from _parts(sim, redis_url, LEGACY)


def _full_poll(service: FetchService) -> HostReport:
    (outcome,) = service.fetch_many([("h", None)], force=True)  # in full: VM statistics with their hashes
    assert outcome.report is not None and outcome.report.ok and outcome.report.vms is not None
    return outcome.report


def _committed(cache: HostCache, report: HostReport) -> None:
    """What the update does after its commit."""
    assert report.device_hashes is not None
    hashes = dict(report.device_hashes)
    cache.record_devices([("h", device_digest(hashes), hashes)])


def _running(sim: SimProcess, host: str = HOST) -> list[str]:
    return sorted(v["vm_id"] for v in sim.control.vms(host) if v["truth"]["status"] == "Up")


def _calls(sim: SimProcess, host: str, verb: str) -> int:
    """How often the simulated host was asked `verb` (refused or not)."""
    return int(sim.control.host(host)["calls"].get(verb, 0))


def test_first_poll_reads_every_vm_then_none_while_hashes_stay(
    parts: tuple[FetchService, HostCache, Watched], sim: SimProcess
) -> None:
    service, cache, watched = parts
    first = _full_poll(service)
    running = _running(sim)
    assert watched.devices_of == [tuple(running)]  # nothing known yet: every VM with a hash, in one call
    assert (_calls(sim, HOST, "Host.dumpxmls"), _calls(sim, HOST, "Host.getVMFullList")) == (1, 0)
    assert sorted(v.vm_id for v in first.vms or () if v.devices) == running
    _committed(cache, first)
    rounds = watched.rounds
    for _ in range(3):
        again = _full_poll(service)
        assert again.device_hashes is None and all(v.devices is None for v in again.vms or ())
    assert watched.devices_of == [tuple(running)]  # no devices call while no hash changes
    assert watched.rounds == rounds + 3  # one round per poll: nothing added
    assert _calls(sim, HOST, "Host.dumpxmls") == 1


def test_a_hot_plug_reads_that_vm_alone(parts: tuple[FetchService, HostCache, Watched], sim: SimProcess) -> None:
    service, cache, watched = parts
    _committed(cache, _full_poll(service))
    vm = _running(sim)[1]
    sim.control.hotplug(vm, kind="disk")
    report = _full_poll(service)
    assert watched.devices_of[-1] == (vm,)
    [changed] = [v for v in report.vms or () if v.devices is not None]
    assert changed.vm_id == vm
    plugged = {d["deviceId"] for d in sim.control.vm(vm)["devices"] if "address" in d and "deviceId" in d}
    assert {d.device_id for d in changed.devices or () if d.managed} == plugged
    assert dict(report.device_hashes or ())[vm] == changed.hash


def test_short_polls_never_read_devices(parts: tuple[FetchService, HostCache, Watched], sim: SimProcess) -> None:
    """The steady state's short list carries no hash: no devices call, whatever changed."""
    service, cache, watched = parts
    first = _full_poll(service)
    _committed(cache, first)
    outcome: FetchOutcome = service.fetch_many([("h", None)], force=True)[0]
    cache.record("h", HostStatus.Up, outcome.digest)
    sim.control.hotplug(_running(sim)[0], kind="nic")
    calls = len(watched.devices_of)
    (short,) = service.fetch_many([("h", None)])
    assert short.report is None  # unchanged VM list: stops at the fetch
    assert len(watched.devices_of) == calls


def test_a_failed_devices_call_is_asked_again_next_time(
    parts: tuple[FetchService, HostCache, Watched], sim: SimProcess
) -> None:
    service, cache, watched = parts
    _committed(cache, _full_poll(service))
    vm = _running(sim)[0]
    sim.control.hotplug(vm)
    sim.control.set_fault(HOST, "jsonrpc_error", code=100, message="General Exception", verbs=["Host.dumpxmls"],
                          remaining=1)
    report = _full_poll(service)
    assert report.ok  # the poll itself stands: its statistics and VMs go on
    assert all(v.devices is None for v in report.vms or ())
    assert any("devices not read" in w for w in report.warnings)
    old = dict(report.device_hashes or ())
    assert vm not in old or old[vm] != next(v.hash for v in report.vms or () if v.vm_id == vm)
    _committed(cache, report)
    retried = _full_poll(service)
    assert watched.devices_of[-1] == (vm,)
    assert any(v.vm_id == vm and v.devices for v in retried.vms or ())


def test_a_legacy_host_is_read_with_its_full_list_after_one_refused_dumpxmls(
    legacy_parts: tuple[FetchService, HostCache, Watched], sim: SimProcess
) -> None:
    """VDSM 4.30 has no Host.dumpxmls: its getVMFullList rows carry the devices. The link remembers
    the unknown verb, so later rounds on it go straight to getVMFullList."""
    service, cache, watched = legacy_parts
    first = _full_poll(service)
    running = _running(sim, LEGACY)
    assert sorted(v.vm_id for v in first.vms or () if v.devices) == running
    assert not any("devices" in w for w in first.warnings)
    _committed(cache, first)
    listed = sim.control.vm(running[0])["devices"]
    stored = next(v.devices for v in first.vms or () if v.vm_id == running[0])
    assert {d.device_id for d in stored or () if d.managed} == {
        d["deviceId"] for d in listed if "deviceId" in d and "address" in d}
    for _ in range(2):
        vm = running[-1]
        sim.control.hotplug(vm, kind="disk")
        again = _full_poll(service)
        assert watched.devices_of[-1] == (vm,)
        assert any(v.vm_id == vm and v.devices for v in again.vms or ())
        _committed(cache, again)
    assert _calls(sim, LEGACY, "Host.dumpxmls") == 1  # one refusal for the link's whole life
    assert _calls(sim, LEGACY, "Host.getVMFullList") == 3  # every devices round: the first and two hot-plugs
