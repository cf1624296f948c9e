"""Quick measurements: `python -m tests.agent.bench` (not collected by pytest).

Parse time of a 20-VM Host.getAllVmStats reply in wire form, and the client
thread's CPU per request against the test server on 127.0.0.1.
"""

from __future__ import annotations

import time
import timeit

import orjson

from tests.agent import wire
from tests.agent.server import AgentServer
from vurti.agent import AgentClient, HostPoller, make_session, parse_vm_list, parse_vm_stats
from vurti.agent.plan import PollRequest
from vurti.config import AgentSettings


def main() -> None:
    full = orjson.loads(orjson.dumps(wire.all_vm_stats(20)))
    short = orjson.loads(orjson.dumps(wire.vm_list(20)))
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": full})
    n = 2000
    for name, fn in (
        ("parse_vm_stats, 20 VMs", lambda: parse_vm_stats(full)),
        ("parse_vm_list, 20 VMs", lambda: parse_vm_list(short)),
        ("orjson.loads of the reply", lambda: orjson.loads(body)),
    ):
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"{name}: {best * 1e6:.1f} us")
    print(f"reply size: {len(body)} bytes")

    settings = AgentSettings(read_timeout=5)
    with AgentServer() as server:
        server.reply("Host.getAllVmStats", full)
        server.reply("Host.getVMList", short)
        client = AgentClient(make_session(settings), settings)
        poller = HostPoller(client)
        for label, kwargs in (("full poll (getAllVmStats)", {"full_vms": True}), ("short poll (getVMList)", {})):
            for _ in range(50):
                poller.poll_request(PollRequest("h", server.url, now=0.0, **kwargs))  # type: ignore[arg-type]
            calls = 1000
            cpu, wall = time.thread_time(), time.perf_counter()
            for _ in range(calls):
                poller.poll_request(PollRequest("h", server.url, now=0.0, **kwargs))  # type: ignore[arg-type]
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            print(f"{label}: client CPU {cpu / calls * 1e3:.3f} ms/request, wall {wall / calls * 1e3:.3f} ms/request")


if __name__ == "__main__":
    main()
