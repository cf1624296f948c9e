"""`|virt|VM_status|` events as VDSM's clientIF.notify sends them, and the faults that bend them.

On every status change (`Fleet.set_status`) the VM's host sends
`{"jsonrpc": "2.0", "method": "|virt|VM_status|<vmId>", "params": {<vmId>: {...},
"notify_time": <statusTime clock>}}` to every subscription of `jms.queue.events`
on its connections. Nothing is kept for a host without subscribers, and nothing
is sent while the host recovers.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson

from vurti.sim import faults
from vurti.sim.fleet import Host, Record
from vurti.sim.wire import status_details

if TYPE_CHECKING:
    from vurti.sim.agents import HostAgent
    from vurti.sim.server import Simulator

EVENTS = "jms.queue.events"


class Events:
    def __init__(self, sim: Simulator, agents: list[HostAgent]) -> None:
        self.sim = sim
        self.agents = agents
        self.sent = 0  # MESSAGE frames, one per subscription
        self.lost = 0  # events dropped by events_lose

    def on_change(self, rec: Record) -> None:
        host = rec.host
        agent = self.agents[host.index]
        if EVENTS not in agent.subs:
            return
        fault = self.sim.current_fault(host)
        if fault is not None and fault.kind in faults.RECOVERING_KINDS:
            return  # VDSM sends nothing while it recovers
        vm_id = rec.spec.vm_id
        body = orjson.dumps({"jsonrpc": "2.0", "method": f"|virt|VM_status|{vm_id}",
                             "params": {vm_id: status_details(rec), "notify_time": host.status_time()}})
        if fault is None or fault.kind not in faults.EVENT_KINDS:
            self.send(agent, body)
            return
        fault.used()
        kind = fault.kind
        if kind == "events_lose":
            self.lost += 1
        elif kind == "events_duplicate":
            self.send(agent, body)
            self.send(agent, body)
        elif kind == "events_delay":
            asyncio.get_running_loop().call_later(fault.seconds, self.send, agent, body)
        elif kind == "events_reorder":
            if not agent.held:
                asyncio.get_running_loop().call_later(fault.seconds, self._flush_batch, agent, agent.held)
            agent.held.append(body)

    def capabilities_changed(self, host: Host) -> None:
        """`|net|host_conn|`: VDSM's hint that the engine should read the capabilities again."""
        agent = self.agents[host.index]
        if EVENTS in agent.subs:
            self.send(agent, orjson.dumps({"jsonrpc": "2.0", "method": "|net|host_conn|refresh",
                                           "params": {"notify_time": host.status_time()}}))

    def send(self, agent: HostAgent, body: bytes) -> None:
        self.sent += agent.deliver(EVENTS, body)

    def _flush_batch(self, agent: HostAgent, batch: list[bytes]) -> None:
        if agent.held is batch:  # not already flushed (the fault was cleared meanwhile)
            self.flush(agent)

    def flush(self, agent: HostAgent) -> None:
        """Send the events `events_reorder` held back, newest first."""
        held, agent.held = agent.held, []
        for body in reversed(held):
            self.send(agent, body)
