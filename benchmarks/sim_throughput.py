"""Throughput, CPU cost, startup time and memory of `vurti sim`.

Starts the simulator (default 5,000 hosts x 20 VMs), then for each verb drives it
from a separate client process (aiohttp, 100 concurrent requests, spread over
every host) for a fixed time and reads the server's CPU time from /proc:

    .venv/bin/python benchmarks/sim_throughput.py [--hosts 5000] [--seconds 10] [--no-render-cache]

"mix" is as fast as possible with 4 of 5 requests Host.getVMList; "paced" is the
monitoring load of `--hosts` hosts polled every 3 s (Host.getVMList, every 5th
poll Host.getAllVmStats + Host.getStats), where the server's CPU share is what
counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from vurti.bench.procs import cpu_seconds, rss_mib
from vurti.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
VERBS = ("Host.getAllVmStats", "Host.getVMList", "mix", "paced")
POLL_PERIOD = 3.0  # seconds between two polls of one host
STATS_EVERY = 5  # every 5th poll of a host is a statistics poll


async def drive(base: str, hosts: int, verb: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Client side: as many requests as the server answers, `concurrency` at a time."""
    import aiohttp

    done = errors = 0
    nbytes = 0
    deadline = time.monotonic() + seconds
    counter = iter(range(10**12))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors, nbytes
        while time.monotonic() < deadline:
            n = next(counter)
            method = verb
            if verb == "mix":
                method = "Host.getVMList" if n % 5 else ("Host.getAllVmStats" if n % 10 == 0 else "Host.getStats")
            url = f"{base}hosts/host-{n % hosts + 1:04d}/"
            body = json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": {}})
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    data = await resp.read()
                    nbytes += len(data)
                    done += 1
            except aiohttp.ClientError:
                errors += 1

    async def one(session: aiohttp.ClientSession, url: str, method: str) -> None:
        nonlocal done, errors, nbytes
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}})
        try:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                nbytes += len(await resp.read())
                done += 1
        except aiohttp.ClientError:
            errors += 1

    async def paced(session: aiohttp.ClientSession) -> None:
        """The monitoring load: every host polled every 3 s, each 5th poll a statistics poll."""
        rate = hosts / POLL_PERIOD
        started, issued, tasks = time.monotonic(), 0, set()
        while time.monotonic() < deadline:
            due = int((time.monotonic() - started) * rate)
            for i in range(issued, due):
                h, cycle = i % hosts, i // hosts
                url = f"{base}hosts/host-{h + 1:04d}/"
                methods = ("Host.getAllVmStats", "Host.getStats") if (cycle + h) % STATS_EVERY == 0 \
                    else ("Host.getVMList",)
                for method in methods:
                    task = asyncio.create_task(one(session, url, method))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            issued = max(issued, due)
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        if verb == "paced":
            await paced(session)
        else:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"requests": done, "errors": errors, "seconds": elapsed, "bytes": nbytes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--vms-per-host", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--churn", type=float, default=0.0)
    parser.add_argument("--no-render-cache", action="store_true")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run as the client process
    parser.add_argument("--verb", default="Host.getVMList", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        out = asyncio.run(drive(args.client, args.hosts, args.verb, args.seconds, args.concurrency))
        print(json.dumps(out))
        return

    port = free_port()
    cmd = [sys.executable, "-m", "vurti.sim", "--hosts", str(args.hosts), "--vms-per-host", str(args.vms_per_host),
           "--port", str(port), "--churn", str(args.churn)]
    if args.no_render_cache:
        cmd.append("--no-render-cache")
    started = time.monotonic()
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        line = server.stdout.readline() if server.stdout else ""
        while True:
            try:
                urllib.request.urlopen(base + "control/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        startup = time.monotonic() - started
        print(line.strip())
        print(f"startup {startup:.2f} s, RSS after start {rss_mib(server.pid):.0f} MiB "
              f"({args.hosts} hosts x {args.vms_per_host} VMs, render cache {'off' if args.no_render_cache else 'on'})")
        for verb in VERBS:
            cpu0 = cpu_seconds(server.pid)
            client = subprocess.run(
                [sys.executable, __file__, "--client", base, "--verb", verb, "--hosts", str(args.hosts),
                 "--seconds", str(args.seconds), "--concurrency", str(args.concurrency)],
                capture_output=True, text=True, check=True)
            cpu = cpu_seconds(server.pid) - cpu0
            out = json.loads(client.stdout)
            rate = out["requests"] / out["seconds"]
            per_cpu = out["requests"] / cpu if cpu else float("inf")
            print(f"{verb:20s} {rate:8.0f} req/s  {per_cpu:8.0f} req per server CPU-second  "
                  f"server {100 * cpu / out['seconds']:3.0f}% of a core  "
                  f"server CPU {cpu:.1f} s / {out['seconds']:.1f} s  avg reply {out['bytes'] / max(1, out['requests']):.0f} B"
                  f"  errors {out['errors']}")
        print(f"RSS at end {rss_mib(server.pid):.0f} MiB")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
