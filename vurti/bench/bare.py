"""The bare polling limit: the simplest loop polling the same hosts with the same client.

Same HTTP library as the fetch workers (aiohttp, one session per process, as in
vurti.agent.aio), the same number of agent calls in flight per process and the
same calls per cycle (Host.getVMList, and on every Nth cycle Host.getStats +
Host.getAllVmStats); replies are read and dropped. Nothing else: no Celery, no
Redis, no parsing. Run as a process per fetch worker:

    python -m vurti.bench.bare URLS_FILE --concurrency 64 --seconds 15 --stats-every 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

import aiohttp
import orjson

VM_LIST = "Host.getVMList"
STATS_CALLS = ("Host.getStats", "Host.getAllVmStats")


def calls_for(cycle: int, stats_every: int) -> tuple[str, ...]:
    """The verbs an Up host gets on its `cycle`-th poll (as plan_poll for Up hosts)."""
    return STATS_CALLS if cycle % stats_every == 0 else (VM_LIST,)


async def _run(urls: list[str], concurrency: int, seconds: float, stats_every: int) -> tuple[int, int]:
    counter = itertools.count()
    ids = itertools.count()
    deadline = time.monotonic() + seconds
    polls = errors = 0
    timeout = aiohttp.ClientTimeout(sock_connect=2.0, sock_read=10.0)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:

        async def loop() -> None:
            nonlocal polls, errors
            while time.monotonic() < deadline:
                n = next(counter)
                url = urls[n % len(urls)]
                try:
                    for verb in calls_for(n // len(urls), stats_every):
                        body = orjson.dumps({"jsonrpc": "2.0", "id": next(ids), "method": verb, "params": {}})
                        async with session.post(url, data=body, allow_redirects=False,
                                                headers={"Content-Type": "application/json"}) as resp:
                            await resp.read()
                    polls += 1
                except Exception:  # noqa: BLE001 - count and go on
                    errors += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return polls, errors


def run(urls: list[str], concurrency: int, seconds: float, stats_every: int) -> dict[str, float]:
    started = time.monotonic()
    cpu0 = time.process_time()
    polls, errors = asyncio.run(_run(urls, concurrency, seconds, stats_every))
    elapsed = time.monotonic() - started
    return {
        "polls": polls,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "polls_per_s": round(polls / elapsed, 2),
        "cpu_s": round(time.process_time() - cpu0, 3),
    }


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
