"""The benchmark's pure parts: percentiles, /proc and INFO parsing, poll and detection figures, profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vurti.bench import figures, procs, redisinfo
from vurti.bench.bare import calls_for
from vurti.bench.figures import Poll, Probe, Window
from vurti.bench.profile import frame_name, top_functions
from vurti.bench.stats import per, percentile, summary


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 99) == 99
    assert percentile([5, 1, 3], 0) == 1 and percentile([5, 1, 3], 100) == 5
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summary_and_per() -> None:
    s = summary([0.1, 0.2, 0.3])
    assert s["n"] == 3 and s["p50"] == 0.2 and s["max"] == 0.3
    assert summary([])["p99"] is None
    assert per(5, 0) is None and per(5, 10, 1000) == 500


def test_parse_stat_with_spaces_and_parentheses_in_the_name() -> None:
    text = "1234 (celery: (worker) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 3 0 1 2 3"
    f = procs.parse_stat(text)
    assert (f.pid, f.ppid, f.utime, f.stime, f.cutime, f.cstime) == (1234, 1, 250, 50, 7, 3)


def test_tree_cpu_counts_live_descendants_and_reaped_children_of_the_root() -> None:
    stats = {
        10: procs.StatFields(10, 1, 100, 0, 50, 0),
        11: procs.StatFields(11, 10, 30, 10, 999, 0),  # a child's cutime is not counted: it is inside 10's later
        12: procs.StatFields(12, 11, 10, 0, 0, 0),
        20: procs.StatFields(20, 1, 500, 0, 0, 0),
    }
    assert sorted(procs.descendants(10, stats)) == [10, 11, 12]
    assert procs.tree_cpu_seconds(10, stats) == pytest.approx((100 + 50 + 40 + 10) / procs.CLK_TCK)


def test_status_kib() -> None:
    assert procs.parse_status_kib("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n", "VmHWM") == 2048
    assert procs.parse_status_kib("Name:\tx\n", "VmHWM") == 0


def test_commandstats_parsed_and_diffed() -> None:
    raw = "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.5\r\ncmdstat_brpop:calls=3,usec=1\r\n"
    assert redisinfo.parse_commandstats(raw) == {"get": 10, "brpop": 3}
    assert redisinfo.command_calls({"cmdstat_get": {"calls": 10}, "other": 1}) == {"get": 10}
    assert redisinfo.diff({"get": 10, "brpop": 3}, {"get": 25, "brpop": 3, "set": 1}) == {"get": 15, "set": 1}


def _poll(host: str, due: float, started: float, result: str = "unchanged") -> Poll:
    return Poll(host, due, started, started + 0.01, result)


def test_poll_figures_lag_rate_and_drops() -> None:
    # two hosts, interval 1 s, window [10, 20): host a served every slot, host b misses two
    polls = [_poll("a", 10.2 + k, 10.3 + k) for k in range(10)]
    polls += [_poll("b", 10.5 + k, 10.5 + k + 0.5) for k in range(10) if k not in (3, 4)]
    w = Window("steady", 10.0, 20.0)
    f = figures.poll_figures(polls, w, hosts=2, interval=1.0)
    assert f["scheduled_per_s"] == 2.0
    assert f["host_cycles"] == 17  # b's last poll starts at 20.0, outside
    assert f["lag_s"]["p50"] == pytest.approx(0.1) and f["lag_s"]["max"] == pytest.approx(0.5)
    # slots in [10, 19): a 9, b 9; b missed 2
    assert f["dropped"] == {"slots": 18, "missing": 2, "share": pytest.approx(2 / 18, abs=1e-4)}


def test_skipped_polls_are_not_host_cycles_and_unseen_hosts_count_as_dropped() -> None:
    polls = [_poll("a", 10.0 + k, 10.1 + k) for k in range(5)] + [_poll("a", 15.0, 15.1, "skip-running")]
    f = figures.poll_figures(polls, Window("w", 10.0, 16.0), hosts=2, interval=1.0)
    assert f["host_cycles"] == 5
    assert f["results"] == {"unchanged": 5, "skip-running": 1}
    assert f["dropped"]["slots"] == 10 and f["dropped"]["missing"] == 5


def test_update_figures_split_statistics_from_changes() -> None:
    updates = [
        {"started": 11.0, "stats": True, "sql": 6, "events": 0},
        {"started": 12.0, "stats": False, "sql": 9, "events": 2},
        {"started": 13.0, "stats": False, "sql": 3, "events": 0, "applied": False},
        {"started": 30.0, "stats": True, "sql": 6, "events": 0},  # outside
    ]
    u = figures.update_figures(updates, Window("w", 10, 20), host_cycles=10)
    assert u["updates"] == 3 and u["not_applied"] == 1 and u["stats_updates_per_host_cycle"] == 0.1
    assert u["sql_per_stats_update"] == 6 and u["sql_per_change_update"] == 6
    assert u["change_updates_without_events"] == 1 and u["sql_in_updates"] == 18


def test_detection_takes_the_first_commit_and_event_after_each_probe() -> None:
    probes = [Probe("vm1", "pause", 100.0), Probe("vm1", "resume", 106.0), Probe("vm2", "pause", 101.0)]
    updates = [
        {"committed": 99.0, "vms": ["vm1"]},  # before: ignored
        {"committed": 102.5, "vms": ["vm1"], "fetched": 101.0, "started": 102.0},
        {"committed": 107.0, "vms": ["vm1", "vm3"]},
        {"committed": None, "vms": ["vm2"]},  # not applied
    ]
    feed = [(102.6, "vm1"), (107.1, "vm1")]
    d = figures.detection(probes, updates, feed)
    assert d["probes"] == 3 and d["missed"] == 1
    assert d["to_commit_s"]["n"] == 2 and d["to_commit_s"]["max"] == pytest.approx(2.5)
    assert d["to_bus_s"]["p50"] == pytest.approx((2.6 + 1.1) / 2)
    # the one commit with its record's times: 1 s to the poll, 1 s queued, 0.5 s to commit
    assert d["to_report_s"]["n"] == 1 and d["to_report_s"]["max"] == pytest.approx(1.0)
    assert d["queued_s"]["max"] == pytest.approx(1.0) and d["apply_s"]["max"] == pytest.approx(0.5)


def test_stream_id_and_poll_rows() -> None:
    assert figures.stream_id_seconds(b"1700000000123-4") == pytest.approx(1700000000.123)
    p = Poll.from_row(["h", None, 1.0, 1.5, "update-stats"])
    assert p.due_at is None and p.polled


def test_bare_loop_asks_what_an_up_host_is_asked() -> None:
    assert calls_for(0, 5) == ("Host.getStats", "Host.getAllVmStats")
    assert calls_for(3, 5) == ("Host.getVMList",)


def test_profile_top_functions_from_collapsed_stacks() -> None:
    collapsed = (
        "process 1:\"celery\";run (celery/worker.py:10);fetch_many (/work/main/vurti/pipeline/fetch.py:73);"
        "post (site-packages/requests/api.py:5) 30\n"
        "run (celery/worker.py:11);parse (/work/main/vurti/agent/parse.py:9) 10\n"
        "garbage line\n"
    )
    top = top_functions(collapsed)
    assert top["samples"] == 40
    assert top["self"][0] == ["post (requests/api.py)", 0.75]
    assert ["run (celery/worker.py)", 1.0] in top["inclusive"]
    assert frame_name("x (/usr/lib/python3.11/json/decoder.py:12)") == "x (json/decoder.py)"


def test_plot_takes_the_newest_run_per_fleet_size_and_marks_missed_detection(tmp_path: Path) -> None:
    from vurti.bench.report import plot

    def result(hosts: int, finished: float, detected: int, interval: float = 3.0) -> dict[str, Any]:
        lag = {"p50": 0.1, "p99": 0.2}
        det = {"n": detected, "p50": 1.0 if detected else None, "p99": 2.0 if detected else None}
        return {"config": {"db": "sqlite", "hosts": hosts, "interval": interval}, "finished_at": finished,
                "windows": [{"polls": {"lag_s": lag}}], "detection": {"to_commit_s": det}}

    results = tmp_path / "results"
    results.mkdir()
    for i, r in enumerate([result(500, 1, 5), result(500, 2, 6), result(5000, 3, 0), result(500, 4, 1, 0.25)]):
        (results / f"{i}.json").write_text(json.dumps(r))
    png = plot(results, tmp_path / "out" / "plot.png")
    assert png is not None and png.read_bytes().startswith(b"\x89PNG")
    assert plot(results, tmp_path / "none.png", interval=1.0) is None  # no run at that interval


def test_one_process_cpu_and_rss_and_a_gone_process() -> None:
    import os

    before = procs.cpu_seconds(os.getpid())
    deadline = before + 0.05
    while procs.cpu_seconds(os.getpid()) < deadline:  # burn CPU until /proc shows it
        sum(range(10_000))
    assert procs.rss_mib(os.getpid()) > 10
    assert procs.cpu_seconds(2**22 + 1) == 0.0 and procs.rss_mib(2**22 + 1) == 0.0  # above pid_max: no such process


def test_around_a_probe_keeps_the_hosts_polls_and_updates_near_it() -> None:
    polls = [Poll("h1", None, 90.0, 90.1, "unchanged"), Poll("h1", None, 98.0, 98.2, "update"),
             Poll("h2", None, 99.0, 99.1, "update"), Poll("h1", None, 111.0, 111.1, "unchanged")]
    updates = [{"host": "h1", "fetched": 98.0, "committed": 99.5, "applied": True, "vms": ["vm1"]},
               {"host": "h1", "fetched": 101.0, "committed": None, "applied": False, "vms": []},
               {"host": "h2", "fetched": 100.0, "committed": 100.2, "applied": True, "vms": ["vm9"]},
               {"host": "h1", "fetched": None, "committed": 100.0, "vms": []}]  # not a report: left out
    seen = figures.around("h1", 100.0, 5.0, polls, updates)
    assert seen["polls"] == [(-2.0, "update")]
    assert seen["updates"] == [{"fetched": -2.0, "committed": -0.5, "applied": True, "vms": 1},
                               {"fetched": 1.0, "committed": None, "applied": False, "vms": 0}]
