"""Simulated hosts whose replies are rendered in process (no HTTP), for benchmarks that time vurti's own work.

Each host's replies are rendered once; the VM statistics get the poll's own statusTime,
as VDSM's do (it is the time of the report and grows on every poll), so a statistics
cycle costs what it costs against a real host.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import orjson

from vurti.agent.plan import PollRequest
from vurti.agent.steps import ALL_VM_STATS_CALL, CAPABILITIES_CALL, STATS_CALL, Call, poll_steps, run_steps
from vurti.bootstrap import Services
from vurti.config import Settings
from vurti.domain.model import HostConfig
from vurti.domain.report import HostReport
from vurti.inventory import NewHost, add_hosts
from vurti.sim.fleet import Fleet
from vurti.sim.rpc import Rpc
from vurti.sim.wire import all_stats_chunks, splice
from vurti.store.db import upgrade

if TYPE_CHECKING:
    from vurti.stack import LocalStack

INT_MAX = 2**31 - 1  # VDSM's statusTime: monotonic milliseconds plus INT_MAX


class Plan(TypedDict, total=False):
    """What a poll asks for: PollRequest's flags."""

    capabilities: bool
    host_stats: bool
    vms: bool
    full_vms: bool
    stats_due: bool


FIRST: Plan = {"capabilities": True, "host_stats": True, "vms": True, "full_vms": True, "stats_due": True}
STATISTICS: Plan = {"host_stats": True, "vms": True, "full_vms": True, "stats_due": True}


class InProcessFleet:
    """`hosts` simulated hosts registered in `svc`'s database, each with its replies rendered once."""

    def __init__(self, svc: Any, hosts: int, vms_per_host: int, seed: int = 1) -> None:
        fleet = Fleet(seed, hosts, vms_per_host)
        rpc = Rpc(fleet)
        self.hosts: list[HostConfig] = add_hosts(
            svc, [NewHost(h.name, f"stomp://{h.name}.invalid:9") for h in fleet.hosts])
        self._replies = {
            host.id: {c: rpc.call(sim, c.verb, c.params or {}) for c in (CAPABILITIES_CALL, STATS_CALL)}
            for host, sim in zip(self.hosts, fleet.hosts, strict=True)
        }
        self._vm_stats = {host.id: all_stats_chunks(sim, rpc.epoch)
                          for host, sim in zip(self.hosts, fleet.hosts, strict=True)}

    def reports(self, now: float, plan: Plan = STATISTICS) -> list[HostReport]:
        """One report per host, as polled at `now` (each cycle needs a later `now`, or it is stale)."""
        out = []
        for host in self.hosts:
            request = PollRequest(host.id, "unused", now=now, **plan)
            out.append(run_steps(poll_steps(request), partial(self._reply, host.id, int(now * 1000) + INT_MAX)))
        return out

    def _reply(self, host_id: str, status_time: int, call: Call) -> Any:
        if call == ALL_VM_STATS_CALL:
            return orjson.loads(splice(self._vm_stats[host_id], status_time))
        return orjson.loads(self._replies[host_id][call])

    def bring_up(self, update: Any, now: float) -> float:
        """Unassigned -> Up, then the VMs known, through `update.update_many`; returns the next `now`."""
        for _ in range(3):
            update.update_many(self.reports(now, FIRST))
            now += 3
        return now


def fleet_up(stack: LocalStack, db: Path, hosts: int, vms_per_host: int) -> tuple[Services, InProcessFleet, float]:
    """Services on a new SQLite database at `db` and a new redis-server of `stack`, with an
    in-process fleet registered and brought Up; returns them and the next `now`."""
    settings = Settings.from_env({"VURTI_DATABASE_URL": f"sqlite:///{db}", "VURTI_REDIS_URL": stack.start_redis()})
    upgrade(settings.database_url)
    svc = Services(settings)
    fleet = InProcessFleet(svc, hosts, vms_per_host)
    return svc, fleet, fleet.bring_up(svc.update, time.time())
