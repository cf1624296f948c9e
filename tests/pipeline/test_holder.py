"""The connection holder of a fetch worker, with fake links and a real Redis: events out, hosts held and handed over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from vurti.agent.address import parse_address
from vurti.domain.report import HostReport
from vurti.pipeline.holder import EVENTS_PER_MESSAGE, Holder
from vurti.runtime.members import Members, owner
from vurti.runtime.push import PushRegistry
from vurti.runtime.schedule import PollSchedule

VM = "5b7a9c1e-3f2d-4c8e-9a61-0d2f4b6e8a10"


class FakeLinks:
    """What BatchPoller tells the holder: which links carry events; which it was told to drop."""

    def __init__(self) -> None:
        self.flowing: set[str] = set()
        self.dropped: list[str] = []

    def event_urls(self) -> set[str]:
        return set(self.flowing)

    def drop(self, urls: Sequence[str]) -> None:
        self.dropped.extend(urls)
        self.flowing -= set(urls)


class World:
    def __init__(self, client: redis.Redis, member: str = "fetch1@a") -> None:
        self.now = 1000.0
        self.sent: list[list[HostReport]] = []
        self.links = FakeLinks()
        self.push = PushRegistry(client)
        self.members = Members(client)
        self.holder = Holder(member, self.members, self.push, self.sent.append, clock=lambda: self.now)
        self.holder._links = self.links  # started by hand: no threads in a unit test

    def status_event(self, vm: str, status: str, notify_time: int) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": f"|virt|VM_status|{vm}",
                "params": {vm: {"status": status}, "notify_time": notify_time}}


def url(i: int) -> str:
    return f"stomp://127.1.0.{i}:54321"


def test_events_of_known_hosts_go_out_in_batches(client: redis.Redis) -> None:
    w = World(client)
    w.holder.polled("h1", url(1))
    for n in range(EVENTS_PER_MESSAGE + 3):
        w.holder.on_event(parse_address(url(1)), w.status_event(VM, "Paused" if n % 2 else "Up", 100 + n))
    w.holder.on_event(parse_address(url(9)), w.status_event(VM, "Up", 5))  # a link no poll opened: unknown host
    w.holder.flush()
    assert [len(batch) for batch in w.sent] == [EVENTS_PER_MESSAGE, 3]
    reports = [r for batch in w.sent for r in batch]
    assert all(r.host_id == "h1" and r.partial for r in reports)
    assert [r.vms[0].status_time for r in reports if r.vms] == list(range(100, 100 + EVENTS_PER_MESSAGE + 3))


def test_hosts_whose_events_flow_are_held_and_released_when_their_link_breaks(client: redis.Redis) -> None:
    w = World(client)
    PollSchedule(client).sync({"h1": 3.0, "h2": 3.0}, now=0.0)
    w.holder.polled("h1", url(1))
    w.holder.polled("h2", url(2))
    w.links.flowing = {url(1), url(2)}
    w.holder.tick()
    assert w.push.holders() == {"h1": "fetch1@a", "h2": "fetch1@a"}
    assert w.holder.pushed("h1") and w.holder.pushed("h2")
    w.holder.on_lost(url(2))
    w.holder.flush()
    assert w.push.holders() == {"h1": "fetch1@a"}
    assert not w.holder.pushed("h2")
    assert PollSchedule(client).scheduled()["h2"] == w.now  # polled at once, at the normal cadence again


def test_a_member_that_joins_gets_its_hosts_handed_over(client: redis.Redis) -> None:
    w = World(client)
    hosts = {f"h{i}": url(i) for i in range(1, 41)}
    for host_id, u in hosts.items():
        w.holder.polled(host_id, u)
    w.links.flowing = set(hosts.values())
    w.holder.tick()
    assert len(w.push.holders()) == 40
    w.members.heartbeat("fetch2@b", w.now)
    w.holder.tick()
    moving = {h for h in hosts if owner(h, ["fetch1@a", "fetch2@b"]) == "fetch2@b"}
    assert moving and set(w.links.dropped) == {hosts[h] for h in moving}
    assert set(w.push.holders()) == set(hosts) - moving
    assert all(not w.holder.pushed(h) for h in moving)


def test_links_no_poll_used_for_long_are_closed(client: redis.Redis) -> None:
    w = World(client)
    w.holder.polled("h1", url(1))
    w.holder.polled("h2", url(2))
    w.now += 60
    w.holder.polled("h2", url(2))
    w.now += 100
    w.holder.tick()
    assert w.links.dropped == [url(1)]


def test_leaving_releases_every_host(client: redis.Redis) -> None:
    w = World(client)
    w.holder.polled("h1", url(1))
    w.links.flowing = {url(1)}
    w.holder.tick()
    assert w.members.live(w.now) == ["fetch1@a"]
    w.holder.stop()
    assert w.members.live(w.now) == [] and w.push.holders() == {}


def test_a_capabilities_hint_makes_the_next_poll_read_them_once(client: redis.Redis) -> None:
    w = World(client)
    w.holder.polled("h1", url(1))
    assert not w.holder.capabilities_due("h1")
    w.holder.on_event(parse_address(url(1)), {"jsonrpc": "2.0", "method": "|net|host_conn|refresh",
                                              "params": {"notify_time": 5}})
    w.holder.flush()
    assert w.sent == []  # a hint, not a report
    assert w.holder.capabilities_due("h1")
    assert not w.holder.capabilities_due("h1")  # taken by the poll that reads them
