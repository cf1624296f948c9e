"""Churn: what happens to VMs by itself, drawn from each host's seeded random stream.

`--churn RATE` is the mean number of life events per host per simulated minute
(one tick is one simulated second, so each tick a host draws about RATE/60
events). Events only depend on the seed, the host and the tick, never on request
timing, so `run_offline(seed, ...)` reproduces the history a server would have.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from vurti.domain.exits import ExitReason
from vurti.domain.status import VmStatus
from vurti.sim import actions
from vurti.sim.fleet import Fleet, Host, Record

CRASHES = (
    (ExitReason.LostQemuConnection, "Lost connection with qemu process"),
    (ExitReason.GenericError, "internal error: process exited while connecting to monitor"),
    (ExitReason.LibvirtDomainMissing, "Libvirt domain missing"),
)
WATCHDOG_ACTIONS = ("reset", "log", "pause", "shutdown", "destroy")


class Life:
    """Random VM churn at `churn` events per host per minute."""

    def __init__(self, fleet: Fleet, churn: float, postcopy_share: float = 0.1) -> None:
        self.fleet = fleet
        self.churn = max(0.0, churn)
        self.postcopy_share = postcopy_share
        self.up_events: list[tuple[float, Callable[[Host, Record, random.Random], None]]] = [
            (14, self._stop),
            (10, self._pause),
            (16, self._migrate),
            (7, self._crash),
            (6, self._watchdog),
            (6, self._not_responding),
            (6, self._reboot),
            (3, self._hibernate),
        ]
        self.up_total = sum(w for w, _ in self.up_events)

    def step(self) -> None:
        """One tick of churn over every host, in host order."""
        if self.churn <= 0:
            return
        rate = self.churn / 60.0
        whole, frac = int(rate), rate - int(rate)
        for host in self.fleet.hosts:
            rng = host.rng
            n = whole + (1 if rng.random() < frac else 0)
            for _ in range(n):
                self._event(host, rng)

    def _event(self, host: Host, rng: random.Random) -> None:
        if host.parked and (not host.records or rng.random() < 0.3):
            spec = host.parked[rng.randrange(len(host.parked))]
            actions.start(self.fleet, spec, host)
            return
        if not host.records:
            return
        recs = list(host.records.values())
        rec = recs[rng.randrange(len(recs))]
        if rec.migration is not None or not rec.monitor_ok:
            return
        if rec.status is VmStatus.Up:
            pick = rng.random() * self.up_total
            for weight, fn in self.up_events:
                pick -= weight
                if pick < 0:
                    fn(host, rec, rng)
                    return
        elif rec.status is VmStatus.Paused:
            if rng.random() < 0.8:
                actions.resume(self.fleet, rec)
            else:
                self._crash(host, rec, rng)

    def _stop(self, host: Host, rec: Record, rng: random.Random) -> None:
        actions.stop(self.fleet, rec, "user" if rng.random() < 0.4 else "admin")

    def _pause(self, host: Host, rec: Record, rng: random.Random) -> None:
        r = rng.random()
        actions.pause(self.fleet, rec, "EIO" if r < 0.3 else "ENOSPC" if r < 0.45 else None)

    def _migrate(self, host: Host, rec: Record, rng: random.Random) -> None:
        peers = self.fleet.by_cluster[host.cluster]
        if len(peers) < 2:
            return
        dest = peers[rng.randrange(len(peers))]
        if dest is host or rec.spec.vm_id in dest.records:
            return
        r = rng.random()
        mode = "postcopy" if r < self.postcopy_share else "fail" if r < self.postcopy_share + 0.1 else "precopy"
        actions.migrate(self.fleet, rec, dest, mode, steps=rng.randint(2, 6))

    def _crash(self, host: Host, rec: Record, rng: random.Random) -> None:
        reason, message = CRASHES[rng.randrange(len(CRASHES))]
        actions.crash(self.fleet, rec, reason, message)

    def _watchdog(self, host: Host, rec: Record, rng: random.Random) -> None:
        actions.watchdog(self.fleet, rec, WATCHDOG_ACTIONS[rng.randrange(len(WATCHDOG_ACTIONS))])

    def _not_responding(self, host: Host, rec: Record, rng: random.Random) -> None:
        actions.not_responding(self.fleet, rec, rng.randint(3, 12))

    def _reboot(self, host: Host, rec: Record, rng: random.Random) -> None:
        actions.reboot(self.fleet, rec)

    def _hibernate(self, host: Host, rec: Record, rng: random.Random) -> None:
        actions.hibernate(self.fleet, rec)


def run_offline(seed: int, hosts: int, vms_per_host: int, ticks: int, churn: float,
                clusters: int = 1, destroy_down: bool = True) -> list[tuple[int, int, str, str, str, str]]:
    """The history of `ticks` ticks of life, with no server and no clock.

    `destroy_down` plays a minimal engine that destroys Down records each tick, so
    the population keeps churning as it would under a real monitor.
    """
    fleet = Fleet(seed, hosts, vms_per_host, clusters)
    life = Life(fleet, churn)
    for _ in range(ticks):
        fleet.step(life.step)
        if destroy_down:
            for host in fleet.hosts:
                for vm_id, rec in list(host.records.items()):
                    if rec.status is VmStatus.Down:
                        actions.destroy(fleet, host, vm_id)
    return list(fleet.history)
