"""Turn raw records (polls, updates, probes, live-feed entries) into the benchmark's figures (pure)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vurti.bench.stats import per, summary


@dataclass(frozen=True)
class Poll:
    host: str
    due_at: float | None
    started_at: float
    finished_at: float
    result: str  # unchanged | update | update-stats | skip-running

    @property
    def polled(self) -> bool:
        return not self.result.startswith("skip")

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Poll:
        host, due, started, finished, result = row
        return cls(str(host), None if due is None else float(due), float(started), float(finished), str(result))


@dataclass(frozen=True)
class Probe:
    vm_id: str
    action: str
    at: float  # wall clock just before the simulator was told
    seen: dict[str, Any] = field(default_factory=dict, compare=False)  # vurti's view of the VM's host just after


@dataclass(frozen=True)
class Window:
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end


def polls_in(polls: Iterable[Poll], window: Window) -> list[Poll]:
    return [p for p in polls if window.holds(p.started_at)]


def poll_figures(polls: Sequence[Poll], window: Window, hosts: int, interval: float) -> dict[str, Any]:
    """Polls/s achieved vs scheduled, drops, cycle lag, and what the polls led to."""
    inside = polls_in(polls, window)
    done = [p for p in inside if p.polled]
    lag = [p.started_at - p.due_at for p in done if p.due_at is not None]
    results = Counter(p.result for p in inside)
    return {
        "scheduled_per_s": round(hosts / interval, 2),
        "achieved_per_s": round(len(done) / window.seconds, 2) if window.seconds > 0 else None,
        "host_cycles": len(done),
        "dropped": dropped_slots(polls, window, hosts, interval),
        "results": dict(results),
        "lag_s": summary(lag),
    }


def dropped_slots(polls: Sequence[Poll], window: Window, hosts: int, interval: float) -> dict[str, Any]:
    """Scheduled slots due in [start, end - interval) that no poll served.

    A slot not started within one interval has expired (its message carries that
    expiry), so the last interval of the window is left out: its polls may still come.
    Hosts never seen at all count every slot of theirs as dropped.
    """
    end = window.end - interval
    if end <= window.start:
        return {"slots": 0, "missing": 0, "share": None}
    phases: dict[str, float] = {}
    served: Counter[str] = Counter()
    for p in polls:
        if p.due_at is None:
            continue
        phases.setdefault(p.host, p.due_at % interval)
        if p.polled and window.start <= p.due_at < end:
            served[p.host] += 1
    expected = 0
    for phase in phases.values():
        expected += _slots_between(phase, interval, window.start, end)
    unseen = max(0, hosts - len(phases))
    expected += unseen * int((end - window.start) / interval)
    missing = max(0, expected - sum(served.values()))
    return {"slots": expected, "missing": missing, "share": per(missing, expected)}


def _slots_between(phase: float, interval: float, start: float, end: float) -> int:
    """How many t = phase + k * interval lie in [start, end)."""
    first = math.ceil((start - phase) / interval - 1e-9)
    last = math.ceil((end - phase) / interval - 1e-9) - 1
    return max(0, last - first + 1)


def update_figures(updates: Sequence[dict[str, Any]], window: Window, host_cycles: int) -> dict[str, Any]:
    """Updates and the SQL they sent, per host-cycle; statistics cycles apart from changes."""
    inside = [u for u in updates if window.holds(float(u["started"]))]
    stats = [u for u in inside if u.get("stats")]
    changes = [u for u in inside if not u.get("stats")]
    empty_changes = [u for u in changes if not u.get("events")]
    sql_stats = sum(int(u["sql"]) for u in stats)
    sql_changes = sum(int(u["sql"]) for u in changes)
    return {
        "updates": len(inside),
        "not_applied": sum(1 for u in inside if u.get("applied") is False),  # stale, unknown host, lost lock
        "updates_per_host_cycle": per(len(inside), host_cycles),
        "stats_updates": len(stats),
        "stats_updates_per_host_cycle": per(len(stats), host_cycles),
        "sql_per_stats_update": per(sql_stats, len(stats)),
        "change_updates": len(changes),
        "change_updates_without_events": len(empty_changes),
        "sql_per_change_update": per(sql_changes, len(changes)),
        "sql_in_updates": sql_stats + sql_changes,
    }


def detection(probes: Sequence[Probe], updates: Sequence[dict[str, Any]],
              feed: Sequence[tuple[float, str]]) -> dict[str, Any]:
    """Seconds from each probe to the first commit and the first live-feed event naming its VM after it.

    `feed` holds (time the event was put on the stream, VM id). The first commit's
    record splits its time in three: `to_report_s`, probe to the report's start (a poll
    started, or a pushed event received); `queued_s`, report to its update's start
    (the update message's time in the broker and the worker's prefetch); `apply_s`,
    the update's own time to commit. (A poll that started before the probe and saw it
    has a negative `to_report_s`.)
    """
    commits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in updates:
        if u.get("committed") is None:
            continue
        for vm in u.get("vms", ()):
            commits[vm].append(u)
    published: dict[str, list[float]] = defaultdict(list)
    for at, vm in feed:
        published[vm].append(at)
    to_commit, to_bus, to_report, queued, applying = [], [], [], [], []
    missed: list[dict[str, Any]] = []
    for probe in probes:
        later = [u for u in commits.get(probe.vm_id, ()) if float(u["committed"]) >= probe.at]
        first = min(later, key=lambda u: float(u["committed"])) if later else None
        b = _first_after(published.get(probe.vm_id, ()), probe.at)
        if first is None and b is None:
            missed.append({"vm_id": probe.vm_id, "action": probe.action, "at": probe.at, "seen": probe.seen})
        if first is not None:
            committed = float(first["committed"])
            to_commit.append(committed - probe.at)
            if first.get("fetched") is not None and first.get("started") is not None:
                to_report.append(float(first["fetched"]) - probe.at)
                queued.append(float(first["started"]) - float(first["fetched"]))
                applying.append(committed - float(first["started"]))
        if b is not None:
            to_bus.append(b - probe.at)
    return {"probes": len(probes), "missed": len(missed), "missed_probes": missed, "to_commit_s": summary(to_commit), "to_bus_s": summary(to_bus),
            "to_report_s": summary(to_report), "queued_s": summary(queued), "apply_s": summary(applying)}


def around(host_id: str, at: float, span: float, polls: Sequence[Poll],
           updates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What vurti did with a host within `span` seconds of `at`: its polls (start, result) and
    its updates (fetched, committed, applied, VMs named), times relative to `at`."""
    def near(t: float) -> bool:
        return at - span <= t <= at + span

    return {
        "polls": [(round(p.started_at - at, 2), p.result) for p in polls if p.host == host_id and near(p.started_at)],
        "updates": [{"fetched": round(float(u["fetched"]) - at, 2),
                     "committed": None if u.get("committed") is None else round(float(u["committed"]) - at, 2),
                     "applied": u.get("applied"), "vms": len(u.get("vms", ()))}
                    for u in updates if u.get("host") == host_id and u.get("fetched") is not None
                    and near(float(u["fetched"]))],
    }


def _first_after(times: Iterable[float], t: float) -> float | None:
    later = [x for x in times if x >= t]
    return min(later) if later else None


def stream_id_seconds(entry_id: str | bytes) -> float:
    """The time a Redis stream entry was added, from its id `<ms>-<seq>`."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000.0
