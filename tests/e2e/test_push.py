"""VDSM's events pushed into the update path, end to end over STOMP with TLS and real processes.

redis-server, the simulator serving TLS with its engine CA, two fetch workers
(each holds the links of the hosts it owns and their event subscriptions), one
update worker and beat, on SQLite. Polls of a host whose events flow slow to its
push interval (PUSH_INTERVAL here); the tests prove a change arrives by its
event, that a broken link or a killed holder loses nothing, and that duplicated,
reordered and lost events end in the right state.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import wait_for
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.status import HostStatus, VmStatus
from vurti.inventory import add_hosts
from vurti.runtime import keys
from vurti.runtime.members import owner
from vurti.sim.control_client import ControlClient
from vurti.sim.registration import fleet_hosts
from vurti.stack import Child, LocalStack, Worker, update_worker
from vurti.store.db import upgrade

pytestmark = pytest.mark.e2e

INTERVAL = 1.0
PUSH_INTERVAL = 8.0
HOSTS = 4


@dataclass
class Push:
    local: LocalStack
    svc: Services
    sim: ControlClient
    fetchers: dict[str, Child]

    def host_id(self, name: str) -> str:
        found = self.svc.resolve_host(name)
        assert found is not None
        return str(found.id)

    def vm(self, vm_id: str) -> Any:
        with self.svc.uow() as uow:
            return uow.vms.get_vm(vm_id)

    def holders(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.svc.redis.hgetall(keys.PUSH).items()}

    def polls(self, name: str) -> int:
        return int(self.svc.redis.hget(keys.host_cache(self.host_id(name)), "cycle") or 0)

    def running_vm(self, host: str) -> str:
        for vm in self.sim.vms(host):
            if vm["truth"]["status"] == "Up" and vm["truth"]["host"] == host and self.vm(vm["vm_id"]) is not None:
                return str(vm["vm_id"])
        raise AssertionError(f"no running VM on {host}")

    def vms_recorded(self, host: str) -> bool:
        """Every VM the simulator runs on `host` is in the DB on that host."""
        host_id = self.host_id(host)
        running = [v["vm_id"] for v in self.sim.vms(host) if v["truth"]["host"] == host]
        return all((vm := self.vm(vm_id)) is not None and vm.host_id == host_id for vm_id in running)

    def held_by_owners(self, names: list[str]) -> bool:
        """Both fetch workers are members and each host's events flow through its rendezvous owner.

        Host ids are random, so four hosts may all belong to one member: the tests
        do not count on a spread, only on the owner rule.
        """
        live = self.svc.members.live(time.time())
        holders = self.holders()
        return len(live) == 2 and all(holders.get(self.host_id(n)) == owner(self.host_id(n), live) for n in names)

    def events_lost(self) -> int:
        return int(self.sim.health()["agents"]["events_lost"])

    def pushed(self, name: str) -> bool:
        return self.host_id(name) in self.holders()

    def after_a_poll(self, name: str) -> int:
        """Wait for the host's next (safety-net) poll to end; return the poll count after it.

        A poll is counted when it starts, and may read the VM list until it ends: only a
        change made after its end needs the next poll (or an event) to arrive.
        """
        before = self.polls(name)
        wait_for(lambda: self.polls(name) > before, timeout=PUSH_INTERVAL + 10, what=f"a poll of {name}")
        fetching = keys.host_fetching(self.host_id(name))
        wait_for(lambda: not self.svc.redis.exists(fetching), timeout=10, what=f"the poll of {name} ended")
        return self.polls(name)

    def changes(self, vm_id: str) -> list[str]:
        with self.svc.uow() as uow:
            return [e.message for e in uow.audit.recent(1000) if e.vm_id == vm_id and e.event_type == "VmStateChanged"]


@pytest.fixture(scope="module")
def push() -> Iterator[Push]:
    workdir = Path(tempfile.mkdtemp(prefix="vurti-push-"))
    pki = workdir / "pki"
    with LocalStack(workdir, {}) as local:
        sim_url = local.start_sim(HOSTS, 3, churn=0, seed=11, extra=("--tick-seconds", "0.2"), tls_dir=pki)
        local.env.update({
            "VURTI_DATABASE_URL": f"sqlite:///{workdir / 'vurti.db'}",
            "VURTI_REFRESH_INTERVAL": str(INTERVAL),
            "VURTI_PUSH_INTERVAL": str(PUSH_INTERVAL),
            "VURTI_STATS_EVERY": "3",
            "VURTI_AGENT_HEARTBEAT": "1",
            "VURTI_AGENT_READ_TIMEOUT": "2",
            "VURTI_AGENT_CONNECT_TIMEOUT": "1",
            "VURTI_AGENT_CA_FILE": str(pki / "cacert.pem"),
            "VURTI_AGENT_CERT_FILE": str(pki / "engine-cert.pem"),
            "VURTI_AGENT_KEY_FILE": str(pki / "engine-key.pem"),
        })
        local.start_redis()
        svc = Services(Settings.from_env(local.env))
        upgrade(svc.settings.database_url)
        sim = ControlClient(sim_url)
        hosts = fleet_hosts(sim_url)
        assert all(h.url.startswith("stomps://") for h in hosts)
        add_hosts(svc, hosts)
        *started, _ = local.start_workers([Worker("fetch1", "fetch", "threads", 4),
                                           Worker("fetch2", "fetch", "threads", 4), update_worker(1)])
        fetchers = {c.name: c for c in started}
        local.start_beat()
        p = Push(local, svc, sim, fetchers)
        wait_for(lambda: all(p.vms_recorded(h.name) for h in hosts), timeout=60, what="VMs recorded")
        wait_for(lambda: all(p.pushed(h.name) for h in hosts), timeout=60, what="every host's events flowing")
        wait_for(lambda: p.held_by_owners([h.name for h in hosts]), timeout=30,
                 what="every host held by its owner among both members")
        try:
            yield p
        finally:
            svc.redis.close()
            svc.engine.dispose()


def test_update_workers_read_the_events_queue_before_the_update_queue(push: Push) -> None:
    """Started with `-Q update` (as operators do), the update worker also reads `events`, first;
    the fetch workers read neither."""
    from celery import Celery

    app = Celery("probe", broker=push.local.env["VURTI_REDIS_URL"], set_as_current=False)
    try:
        replies = app.control.inspect(timeout=3).active_queues() or {}
    finally:
        app.close()
    queues = {worker.split("@")[0]: [q["name"] for q in qs] for worker, qs in replies.items()}
    assert queues["update"] == ["events", "update"]
    assert all("events" not in queues[name] and "update" not in queues[name] for name in ("fetch1", "fetch2"))


def test_a_status_change_reaches_the_database_through_its_event_before_the_next_poll(push: Push) -> None:
    vm_id = push.running_vm("host-0001")
    polls = push.after_a_poll("host-0001")  # the next one is PUSH_INTERVAL away
    started = time.monotonic()
    push.sim.pause(vm_id)
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Paused, timeout=PUSH_INTERVAL, what="pause committed")
    assert time.monotonic() - started < PUSH_INTERVAL / 2
    assert push.polls("host-0001") == polls  # no poll carried it: the event did
    push.sim.resume(vm_id)
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Up, timeout=PUSH_INTERVAL, what="resume committed")


def test_a_dropped_connection_reconnects_and_loses_no_transition(push: Push) -> None:
    vm_id = push.running_vm("host-0002")
    push.sim.set_fault("host-0002", "drop")
    push.sim.pause(vm_id)  # while the link is down: no event can carry this one
    push.sim.clear_fault("host-0002")
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Paused, timeout=15, what="pause after the reconnect")
    wait_for(lambda: push.pushed("host-0002"), timeout=15, what="events flowing again")
    push.sim.resume(vm_id)
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Up, timeout=PUSH_INTERVAL, what="resume by event")


def test_a_host_that_stops_its_heart_beats_is_polled_at_the_normal_cadence(push: Push) -> None:
    push.sim.set_fault("host-0003", "no_heartbeat")
    try:
        wait_for(lambda: not push.pushed("host-0003"), timeout=10, what="the silent link given up")
        before = push.polls("host-0003")
        wait_for(lambda: push.polls("host-0003") >= before + 3, timeout=4 * INTERVAL + 5,
                 what="polls at the refresh interval")
    finally:
        push.sim.clear_fault("host-0003")
    wait_for(lambda: push.pushed("host-0003"), timeout=20, what="events flowing again")


def test_duplicated_events_change_nothing_twice(push: Push) -> None:
    vm_id = push.running_vm("host-0004")
    push.sim.set_fault("host-0004", "events_duplicate")
    try:
        push.sim.pause(vm_id)
        wait_for(lambda: push.vm(vm_id).status is VmStatus.Paused, timeout=PUSH_INTERVAL, what="pause")
        push.sim.resume(vm_id)
        wait_for(lambda: push.vm(vm_id).status is VmStatus.Up, timeout=PUSH_INTERVAL, what="resume")
        push.after_a_poll("host-0004")
    finally:
        push.sim.clear_fault("host-0004")
    changes = push.changes(vm_id)
    assert len([c for c in changes if "to Paused" in c]) == 1, changes
    assert len([c for c in changes if "Paused to Up" in c]) == 1, changes


def test_reordered_events_end_in_the_latest_state(push: Push) -> None:
    vm_id = push.running_vm("host-0004")
    push.sim.set_fault("host-0004", "events_reorder")
    try:
        push.sim.pause(vm_id)
        push.sim.resume(vm_id)  # the two events go out in the opposite order
        push.after_a_poll("host-0004")
        assert push.vm(vm_id).status is VmStatus.Up
    finally:
        push.sim.clear_fault("host-0004")


def test_a_lost_event_is_caught_by_the_safety_net_poll(push: Push) -> None:
    vm_id = push.running_vm("host-0001")
    push.sim.set_fault("host-0001", "events_lose")
    try:
        polls = push.after_a_poll("host-0001")
        lost = push.events_lost()
        push.sim.pause(vm_id)
        wait_for(lambda: push.vm(vm_id).status is VmStatus.Paused, timeout=PUSH_INTERVAL + 10,
                 what="the pause, from the next poll")
        assert push.events_lost() == lost + 1  # its event never left the host
        assert push.polls("host-0001") > polls  # a poll brought it, later but not lost
    finally:
        push.sim.clear_fault("host-0001")
    push.sim.resume(vm_id)
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Up, timeout=PUSH_INTERVAL, what="resume by event")


def test_a_killed_holders_hosts_are_monitored_again_within_seconds(push: Push) -> None:
    name = "host-0001"
    holder = wait_for(lambda: push.holders().get(push.host_id(name)), timeout=PUSH_INTERVAL + 10,
                      what=f"events of {name} flowing")
    victim_name = str(holder).split("@")[0]
    survivor = next(f for f in push.fetchers if f != victim_name)
    vm_id = push.running_vm(name)
    victim = push.fetchers[victim_name]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    killed = time.monotonic()
    push.sim.pause(vm_id)
    wait_for(lambda: push.vm(vm_id).status is VmStatus.Paused, timeout=30, what="pause seen by the other holder")
    wait_for(lambda: push.holders().get(push.host_id(name), "").startswith(f"{survivor}@"), timeout=30,
             what=f"events of the host flowing through {survivor}")
    took = time.monotonic() - killed
    assert took < 15, took
    with push.svc.uow() as uow:
        assert uow.hosts.get_host_state(push.host_id(name)).status is HostStatus.Up
