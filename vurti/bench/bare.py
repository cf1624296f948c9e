"""The bare polling limit: the simplest loop polling the same hosts with the same client.

Same HTTP library and session settings as the fetch workers (requests, one pooled
Session per process from `vurti.agent.make_session`), the same number of
concurrent calls per process and the same calls per cycle (Host.getVMList, and on
every Nth cycle Host.getStats + Host.getAllVmStats); replies are read and dropped.
Nothing else: no Celery, no Redis, no parsing. Run as a process per fetch worker:

    python -m vurti.bench.bare URLS_FILE --concurrency 32 --seconds 15 --stats-every 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from pathlib import Path

import orjson

from vurti.agent import make_session
from vurti.config import AgentSettings

VM_LIST = "Host.getVMList"
STATS_CALLS = ("Host.getStats", "Host.getAllVmStats")


def calls_for(cycle: int, stats_every: int) -> tuple[str, ...]:
    """The verbs an Up host gets on its `cycle`-th poll (as plan_poll for Up hosts)."""
    return STATS_CALLS if cycle % stats_every == 0 else (VM_LIST,)


def run(urls: list[str], concurrency: int, seconds: float, stats_every: int) -> dict[str, float]:
    session = make_session(AgentSettings())
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    polls = [0] * concurrency
    errors = [0] * concurrency

    def loop(slot: int) -> None:
        ids = itertools.count()
        while time.monotonic() < deadline:
            n = next(counter)
            url = urls[n % len(urls)]
            try:
                for verb in calls_for(n // len(urls), stats_every):
                    body = orjson.dumps({"jsonrpc": "2.0", "id": next(ids), "method": verb, "params": {}})
                    resp = session.post(url, data=body, timeout=(2.0, 10.0))
                    _ = resp.content
                polls[slot] += 1
            except Exception:  # noqa: BLE001 - count and go on
                errors[slot] += 1

    started = time.monotonic()
    cpu0 = time.process_time()
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {
        "polls": sum(polls),
        "errors": sum(errors),
        "seconds": round(elapsed, 3),
        "polls_per_s": round(sum(polls) / elapsed, 2),
        "cpu_s": round(time.process_time() - cpu0, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--stats-every", type=int, default=5)
    args = parser.parse_args(argv)
    urls = [line.strip() for line in args.urls_file.read_text().splitlines() if line.strip()]
    json.dump(run(urls, args.concurrency, args.seconds, args.stats_every), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
