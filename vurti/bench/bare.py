"""The bare polling limit: the simplest loop polling the same hosts over the same links.

The fetch workers' transport (AgentLinks: one persistent STOMP link per host,
calls multiplexed by id), the same number of agent calls in flight per process
and the same calls per cycle (Host.getVMList, and on every Nth cycle
Host.getStats + Host.getAllVmStats); each reply is routed to its call and
dropped. Nothing else: no Celery, no Redis, no parsing into reports. Run as a
process per fetch worker:

    python -m vurti.bench.bare URLS_FILE --concurrency 64 --seconds 15 --stats-every 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from vurti.agent.links import AgentLinks
from vurti.config import Settings

VM_LIST = "Host.getVMList"
STATS_CALLS = ("Host.getStats", "Host.getAllVmStats")


def calls_for(cycle: int, stats_every: int) -> tuple[str, ...]:
    """The verbs an Up host gets on its `cycle`-th poll (as plan_poll for Up hosts)."""
    return STATS_CALLS if cycle % stats_every == 0 else (VM_LIST,)


async def _run(urls: list[str], concurrency: int, seconds: float, stats_every: int) -> dict[str, Any]:
    counter = itertools.count()
    polls = errors = 0
    links = AgentLinks(Settings.from_env().agent)  # TLS files and timeouts as the workers have them
    limit = asyncio.Semaphore(concurrency)

    async def connect(url: str) -> None:
        async with limit:
            with contextlib.suppress(Exception):  # counted below when its polls fail
                await links.call(url, "Host.ping")

    # Connections are made before the clock starts, as the workers hold theirs: the figures
    # are of polling over open links, not of TLS handshakes.
    await asyncio.gather(*(connect(url) for url in urls))
    started, cpu0 = time.monotonic(), time.process_time()
    deadline = started + seconds

    async def loop() -> None:
        nonlocal polls, errors
        while time.monotonic() < deadline:
            n = next(counter)
            url = urls[n % len(urls)]
            try:
                for verb in calls_for(n // len(urls), stats_every):
                    await links.call(url, verb)
                polls += 1
            except Exception:  # noqa: BLE001 - count and go on
                errors += 1

    try:
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        ended, cpu1 = time.monotonic(), time.process_time()
    finally:
        await links.close()
    elapsed = ended - started
    return {
        "polls": polls,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "polls_per_s": round(polls / elapsed, 2),
        "cpu_s": round(cpu1 - cpu0, 3),
        "window": [started, ended],  # monotonic, shared by the processes of this machine
    }


def run(urls: list[str], concurrency: int, seconds: float, stats_every: int) -> dict[str, Any]:
    """Poll for `seconds` once every link is open; the figures are of that window only."""
    return asyncio.run(_run(urls, concurrency, seconds, stats_every))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--stats-every", type=int, default=5)
    args = parser.parse_args(argv)
    urls = [line.strip() for line in args.urls_file.read_text().splitlines() if line.strip()]
    json.dump(run(urls, args.concurrency, args.seconds, args.stats_every), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
