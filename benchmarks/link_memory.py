"""Memory per persistent agent connection, on both ends: vurti's links and the simulator's listeners.

Starts `vurti sim` with N hosts (TLS by default, as VDSM), reads both processes'
RSS, opens one link per host from this process through AgentLinks (one
Host.ping each, as a fetch worker's first poll does), waits a heart-beat, and
reads the RSS again. Prints the figures per connection and the CPU the opening
cost on both sides.

    .venv/bin/python benchmarks/link_memory.py --hosts 2000 [--no-tls]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from vurti.agent.links import AgentLinks
from vurti.bench.procs import all_stats, rss_mib, tree_cpu_seconds
from vurti.config import AgentSettings
from vurti.sim.control_client import ControlClient
from vurti.stack import LocalStack


def rss_kib(pid: int) -> float:
    return rss_mib(pid) * 1024


async def open_links(urls: list[str], settings: AgentSettings) -> AgentLinks:
    links = AgentLinks(settings)
    limit = asyncio.Semaphore(200)

    async def one(url: str) -> None:
        async with limit:
            await links.call(url, "Host.ping")

    await asyncio.gather(*(one(u) for u in urls))
    return links


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vurti-linkmem-"))
    with LocalStack(workdir) as stack:
        pki = workdir / "pki"
        sim_url = stack.start_sim(args.hosts, 1, churn=0, tls_dir=pki if args.tls else None)
        sim_pid = stack.children[-1].proc.pid
        urls = [str(h["address"]) for h in ControlClient(sim_url).hosts()]
        settings = AgentSettings(
            connect_timeout=10, read_timeout=30, ca_file=str(pki / "cacert.pem") if args.tls else None,
            cert_file=str(pki / "engine-cert.pem") if args.tls else None,
            key_file=str(pki / "engine-key.pem") if args.tls else None,
        )
        me = os.getpid()
        before = rss_kib(me), rss_kib(sim_pid)
        stats = all_stats()
        cpu0 = time.process_time(), tree_cpu_seconds(sim_pid, stats)
        loop = asyncio.new_event_loop()
        started = time.monotonic()
        links = loop.run_until_complete(open_links(urls, settings))
        opened = time.monotonic() - started
        loop.run_until_complete(asyncio.sleep(2))
        after = rss_kib(me), rss_kib(sim_pid)
        cpu1 = time.process_time(), tree_cpu_seconds(sim_pid, all_stats())
        n = links.open_count()
        print(f"{n} links open ({'TLS' if args.tls else 'plain TCP'}) in {opened:.1f} s")
        for side, i in (("vurti (client)", 0), ("simulator", 1)):
            grew = after[i] - before[i]
            print(f"  {side:15} RSS {before[i] / 1024:7.1f} -> {after[i] / 1024:7.1f} MiB: "
                  f"{grew / max(n, 1):6.1f} KiB per connection; opening cost {cpu1[i] - cpu0[i]:.2f} s CPU "
                  f"({(cpu1[i] - cpu0[i]) / max(n, 1) * 1000:.2f} ms per connection)")
        loop.run_until_complete(links.close())
        loop.close()


if __name__ == "__main__":
    main()
