"""The benchmark recorder on a real redis-server: update records are buffered, then all pushed."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import redis

from tests.support.procs import wait_for
from vurti.bench.recorder import UPDATES_KEY, BenchRecorder


def test_update_records_are_pushed_by_the_flusher_in_order(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(UPDATES_KEY)
    recorder = BenchRecorder(client)
    for i in range(30):
        report = SimpleNamespace(host_id=f"h{i}", fetched_at=float(i), stats_due=i % 2 == 0)
        recorder.update(report, started=float(i), committed=float(i) + 0.5, applied=True, events=[], sql=7)
    wait_for(lambda: client.llen(UPDATES_KEY) == 30, timeout=10, what="30 update records pushed")
    rows = [orjson.loads(raw) for raw in client.lrange(UPDATES_KEY, 0, -1)]
    assert [r["host"] for r in rows] == [f"h{i}" for i in range(30)]
    assert rows[2] == {"host": "h2", "fetched": 2.0, "started": 2.0, "committed": 2.5, "applied": True,
                       "stats": True, "vms": [], "events": 0, "sql": 7}
    client.delete(UPDATES_KEY)
    client.close()
