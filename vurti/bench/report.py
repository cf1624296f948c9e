"""Results out: JSON files, a row in docs/benchmarks.md, a console summary, and the scaling plot."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

MD_HEADER = (
    "| date | machine | commit | db | hosts x VMs | churn | interval | fetch workers | polls/s (sched) "
    "| dropped | lag p50/p99/max s | detect commit p50/p99 s | detect bus p50/p99 s "
    "| SQL/cycle | Redis cmd/cycle | CPU s/1k cycles (fetch, update, beat, redis, db, sim) "
    "| beat cores | peak RSS MiB (fetch; update) | bare polls/s | ratio |\n"
    "|" + "---|" * 20 + "\n"
)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(), "python": platform.python_version()}


def commit(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_json(result: dict[str, Any], results_dir: Path) -> Path:
    cfg = result["config"]
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(result.get("finished_at", time.time())))
    name = f"{stamp}-{cfg['db']}-{cfg['hosts']}x{cfg['vms_per_host']}-churn{cfg['churn']:g}-f{cfg['fetch_workers']}.json"
    path = results_dir / name
    path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    return path


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"  # noqa: RUF001 - an en dash: no value
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def main_window(result: dict[str, Any]) -> dict[str, Any]:
    """The first window: steady state (churn 0) or the simulator's churn alone."""
    return result["windows"][0]


def md_row(result: dict[str, Any]) -> str:
    cfg, w = result["config"], main_window(result)
    p, cpu = w["polls"], w["cpu_s_per_1000_host_cycles"]
    det = result.get("detection") or {}
    dc, db = det.get("to_commit_s") or {}, det.get("to_bus_s") or {}
    rss = result["peak_rss_mib"]
    cpu_cells = ", ".join(_f(cpu.get(k), 2) for k in
                          ("worker-fetch", "worker-update", "beat", "redis", "database", "simulator"))
    return "| " + " | ".join([
        time.strftime("%Y-%m-%d %H:%M", time.localtime(result.get("finished_at", time.time()))),
        f"{result['machine']['cpus']} cores",
        result["commit"],
        cfg["db"],
        f"{cfg['hosts']} x {cfg['vms_per_host']}",
        _f(cfg["churn"]),
        f"{cfg['interval']:g} s",
        str(cfg["fetch_workers"]),
        f"{_f(p['achieved_per_s'], 4)} ({_f(p['scheduled_per_s'], 4)})",
        f"{p['dropped']['missing']}/{p['dropped']['slots']}",
        f"{_f(p['lag_s']['p50'])}/{_f(p['lag_s']['p99'])}/{_f(p['lag_s']['max'])}",
        f"{_f(dc.get('p50'))}/{_f(dc.get('p99'))}",
        f"{_f(db.get('p50'))}/{_f(db.get('p99'))}",
        _f(w["sql"]["per_host_cycle"]),
        _f(w["redis"]["per_host_cycle"]),
        cpu_cells,
        _f(w["beat_cores"]),
        f"{', '.join(_f(x) for x in rss['worker-fetch'])}; {', '.join(_f(x) for x in rss['worker-update'])}",
        _f(result["bare"]["polls_per_s"], 4),
        _f(result.get("ratio_to_bare")),
    ]) + " |\n"


def append_md(result: dict[str, Any], md_path: Path) -> None:
    """Append a row to the results table (the table is the last thing in the file)."""
    text = md_path.read_text() if md_path.exists() else ""
    if MD_HEADER.splitlines()[0] not in text:
        text += ("\n" if text and not text.endswith("\n") else "") + "\n## Results\n\n" + MD_HEADER
    md_path.write_text(text + md_row(result))


def console_lines(result: dict[str, Any]) -> list[str]:
    out = []
    up, hosts = result.get("hosts_up_after_warmup"), result["config"]["hosts"]
    if up is not None and up < hosts:
        out.append(f"warm-up ended with {up} of {hosts} hosts Up (--warmup-up); the others were never measured as Up")
    for w in result["windows"]:
        p = w["polls"]
        out.append(f"[{w['name']}] {w['seconds']}s: polls/s {p['achieved_per_s']} of {p['scheduled_per_s']} scheduled, "
                   f"dropped {p['dropped']['missing']}/{p['dropped']['slots']}, "
                   f"lag p50 {p['lag_s']['p50']} p99 {p['lag_s']['p99']} max {p['lag_s']['max']} s")
        out.append(f"    SQL/host-cycle {w['sql']['per_host_cycle']} (outside updates: {w['sql']['outside_updates']}), "
                   f"Redis cmd/host-cycle {w['redis']['per_host_cycle']}, updates/host-cycle "
                   f"{w['updates']['updates_per_host_cycle']} (stats {w['updates']['stats_updates_per_host_cycle']}, "
                   f"SQL per stats update {w['updates']['sql_per_stats_update']})")
        out.append(f"    CPU s per 1000 host-cycles: {w['cpu_s_per_1000_host_cycles']}; beat cores {w['beat_cores']}")
    det = result.get("detection")
    if det:
        out.append(f"detection ({det['probes']} probes, {det['missed']} missed): commit {det['to_commit_s']}, "
                   f"bus {det['to_bus_s']}")
        if det.get("queued_s"):  # runs recorded before the split have none
            out.append(f"    first commit's path: probe to report {det['to_report_s']}, report to update "
                       f"{det['queued_s']}, update {det['apply_s']}")
    out.append(f"peak RSS MiB: {result['peak_rss_mib']}")
    bare = result["bare"]
    out.append(f"bare polling limit: {bare['polls_per_s']} polls/s ({bare['processes']} x {bare['concurrency']} "
               f"threads); vurti/bare = {result.get('ratio_to_bare')}")
    return out


def plot(results_dir: Path, png: Path, interval: float = 3.0) -> Path | None:
    """Cycle lag and detection latency (p50, p99) against fleet size, one line per database
    and mode (polls only, or with pushed events: their detection is event-to-commit).

    Runs at `interval` that had a probe window; the newest run per database, mode and fleet
    size. A run whose probes were all missed is marked with an x at the top of the
    detection plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    newest: dict[tuple[str, int], dict[str, Any]] = {}  # (series, hosts) -> run
    for path in sorted(results_dir.glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("detection") is None or r["config"]["interval"] != interval:
            continue
        key = (r["config"]["db"] + (" push" if r["config"].get("push") else ""), r["config"]["hosts"])
        if key not in newest or r.get("finished_at", 0) >= newest[key].get("finished_at", 0):
            newest[key] = r
    if not newest:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    top = 2 * interval
    for db in sorted({db for db, _ in newest}):
        mine = sorted((r for (d, _), r in newest.items() if d == db), key=lambda r: r["config"]["hosts"])
        for q, style in (("p50", "o-"), ("p99", "s--")):
            axes[0].plot([r["config"]["hosts"] for r in mine], [r["windows"][-1]["polls"]["lag_s"][q] for r in mine],
                         style, label=f"{db} {q}")
            seen = [r for r in mine if r["detection"]["to_commit_s"]["n"]]
            axes[1].plot([r["config"]["hosts"] for r in seen], [r["detection"]["to_commit_s"][q] for r in seen],
                         style, label=f"{db} {q}")
        missed = [r["config"]["hosts"] for r in mine if not r["detection"]["to_commit_s"]["n"]]
        if missed:
            axes[1].plot(missed, [top] * len(missed), "kx", markersize=10, label=f"{db}: no probe detected")
    axes[1].axhline(top, color="grey", linewidth=0.8, linestyle=":")
    axes[0].set_title("cycle lag (poll start - scheduled), s")
    axes[1].set_title("detection latency (change -> commit), s")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("hosts")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
