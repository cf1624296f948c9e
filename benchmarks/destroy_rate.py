"""How often vurti calls VM.destroy on a churning fleet, how well it goes, what it costs, how long it takes.

Starts what `vurti run` starts (vurti.stack.LocalStack): redis-server, SQLite, a
simulated fleet (default 500 hosts x 20 VMs, churn 2 life events per host per
simulated minute, one simulated second per real second), one fetch worker
(threads, 16), one update worker (prefork, 2) and beat at the default 3 s
polling interval. After all hosts are Up and a warm-up, it measures for
`--duration` seconds and prints:

- destroys per minute, counted three ways: VM.destroy calls the simulator
  received (ControlClient.destroys()), host_commands rows created in the window,
  and VmDestroyed audit lines;
- success rate: calls that found a record on the host; audit VmDestroyed vs
  VmDestroyFailed; host_commands rows done / failed / still pending;
- cost: the wall time of the send_commands tasks, from the fetch worker's own
  "Task vurti.send_commands[...] succeeded in Xs" log lines (per task and per
  destroy), plus the CPU seconds (/proc utime+stime) of each worker process tree
  over the window for scale (the fetch worker also does all the polling);
- latency from a VM's Down commit to its destroy: (a) the audit line that
  recorded the Down (VmDown or VmStateChanged, stamped with the update's clock in
  the committing transaction) to the VmDestroyed line; (b) host_commands.created_at
  (the same transaction) to the simulator receiving the VM.destroy call.

Run: `.venv/bin/python benchmarks/destroy_rate.py [--hosts 500 --vms-per-host 20
--churn 2 --duration 120]`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from vurti.bootstrap import Services  # noqa: E402
from vurti.config import Settings  # noqa: E402
from vurti.domain.status import HostStatus  # noqa: E402
from vurti.sim.control_client import ControlClient  # noqa: E402
from vurti.sim.registration import register_fleet  # noqa: E402
from vurti.stack import Child, LocalStack, wait_until  # noqa: E402
from vurti.store.db import upgrade  # noqa: E402
from vurti.store.tables import audit_log, host_commands  # noqa: E402

TASK_LINE = re.compile(rb"Task vurti\.send_commands\[[^\]]+\] succeeded in ([0-9.eE+-]+)s: (\d+)")
DOWN_EVENTS = ("VmDown", "VmStateChanged")


def _proc_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a prefork worker's pool processes)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(child: Child) -> float:
    """utime + stime of a child's process tree, in seconds (live processes only)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _proc_tree(child.proc.pid):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / tick


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _dist(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "p90": _pct(values, 0.9),
            "p99": _pct(values, 0.99), "max": max(values), "mean": statistics.fmean(values)}


def _fmt(d: dict[str, float]) -> str:
    if not d.get("n"):
        return "no samples"
    return (f"median {d['median']:.2f}s, p90 {d['p90']:.2f}s, p99 {d['p99']:.2f}s, max {d['max']:.2f}s "
            f"(n={int(d['n'])})")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="vurti-destroy-rate-")).resolve()
    env = {"VURTI_DATABASE_URL": f"sqlite:///{workdir / 'vurti.db'}"}
    with LocalStack(workdir, env) as stack:
        stack.start_redis()
        settings = Settings.from_env(stack.env)
        svc = Services(settings)
        upgrade(settings.database_url)
        print(f"starting {args.hosts} hosts x {args.vms_per_host} VMs, churn {args.churn}/host/min, "
              f"tick {args.tick_seconds}s; workdir {workdir}", flush=True)
        sim_url = stack.start_sim(args.hosts, args.vms_per_host, args.churn, args.seed,
                                  extra=("--tick-seconds", str(args.tick_seconds)))
        sim = ControlClient(sim_url, timeout=60)
        register_fleet(svc, sim_url)
        fetch = stack.start_worker("fetch", "fetch", pool="threads", concurrency=16)
        update = stack.start_worker("update", "update", pool="prefork", concurrency=2)
        stack.start_beat()

        def all_up() -> bool:
            with svc.uow() as uow:
                hosts = uow.hosts.list_hosts()
            return len(hosts) == args.hosts and all(s.status is HostStatus.Up for _, s in hosts)

        started = time.monotonic()
        wait_until(all_up, args.up_timeout, "every host Up", interval=1.0)
        print(f"all hosts Up after {time.monotonic() - started:.0f}s; warming up {args.warmup:.0f}s", flush=True)
        time.sleep(args.warmup)  # a measurement window, not synchronisation

        log_offset = fetch.log_path.stat().st_size
        sim_since = len(sim.destroys())
        cpu0 = {"fetch": cpu_seconds(fetch), "update": cpu_seconds(update)}
        t0 = time.time()
        print(f"measuring for {args.duration:.0f}s ...", flush=True)
        time.sleep(args.duration)
        t1 = time.time()
        cpu1 = {"fetch": cpu_seconds(fetch), "update": cpu_seconds(update)}
        calls = [d for d in sim.destroys(sim_since) if t0 <= d["at"] < t1]
        with fetch.log_path.open("rb") as f:
            f.seek(log_offset)
            task_log = f.read()
        with svc.engine.connect() as conn:
            commands = list(conn.execute(
                sa.select(host_commands.c.host_id, host_commands.c.payload, host_commands.c.state,
                          host_commands.c.attempts, host_commands.c.created_at)
                .where(host_commands.c.created_at >= t0 - 600)).mappings())
            audits = list(conn.execute(
                sa.select(audit_log.c.at, audit_log.c.host_id, audit_log.c.vm_id, audit_log.c.event_type)
                .where(audit_log.c.at >= t0 - 600,
                       audit_log.c.event_type.in_(("VmDestroyed", "VmDestroyFailed", *DOWN_EVENTS)))
                .order_by(audit_log.c.at)).mappings())
        with svc.uow() as uow:
            host_ids = {config.name: str(config.id) for config, _ in uow.hosts.list_hosts()}
        svc.redis.close()
        svc.engine.dispose()
    raw = {"t0": t0, "t1": t1, "calls": calls, "commands": [dict(c) for c in commands],
           "audits": [dict(a) for a in audits], "host_ids": host_ids}
    (workdir / "destroy_rate_raw.json").write_text(json.dumps(raw, default=str))
    print(f"raw data in {workdir / 'destroy_rate_raw.json'}", flush=True)
    return _summarise(args, t0, t1, calls, commands, audits, task_log, host_ids, cpu0, cpu1)


def _summarise(args: argparse.Namespace, t0: float, t1: float, calls: list[dict[str, Any]],
               commands: list[Any], audits: list[Any], task_log: bytes, host_ids: dict[str, str],
               cpu0: dict[str, float], cpu1: dict[str, float]) -> dict[str, Any]:
    minutes = (t1 - t0) / 60.0
    in_window = [c for c in commands if t0 <= c["created_at"] < t1]
    states = Counter(c["state"] for c in in_window)
    destroyed = [a for a in audits if a["event_type"] == "VmDestroyed" and t0 <= a["at"] < t1]
    failed = [a for a in audits if a["event_type"] == "VmDestroyFailed" and t0 <= a["at"] < t1]
    found = sum(1 for c in calls if c["found"])
    # A call that found nothing repeats one that did (the record it saw was destroyed already).
    last_found: dict[tuple[str, str], float] = {}
    repeats = 0
    for c in sorted(calls, key=lambda c: c["at"]):
        key = (c["host"], c["vm_id"])
        if c["found"]:
            last_found[key] = c["at"]
        elif key in last_found:
            repeats += 1

    tasks = [(float(m.group(1)), int(m.group(2))) for m in TASK_LINE.finditer(task_log)]
    task_seconds = sum(t for t, _ in tasks)
    task_destroys = sum(n for _, n in tasks)

    # (a) Down commit (audit) -> VmDestroyed (audit), per VM.
    downs: dict[str, list[float]] = defaultdict(list)
    for a in audits:
        if a["event_type"] in DOWN_EVENTS and a["vm_id"]:
            downs[a["vm_id"]].append(a["at"])
    audit_latency = []
    for a in destroyed:
        times = downs.get(a["vm_id"] or "", [])
        i = bisect.bisect_right(times, a["at"])
        if i:
            audit_latency.append(a["at"] - times[i - 1])
    # (b) host_commands.created_at -> VM.destroy received by the simulator, per (host, VM).
    created: dict[tuple[str, str], list[float]] = defaultdict(list)
    for c in commands:
        created[(c["host_id"], c["payload"]["vm_id"])].append(c["created_at"])
    for v in created.values():
        v.sort()
    command_latency = []
    for c in calls:
        key = (host_ids.get(c["host"], ""), c["vm_id"])
        times = created.get(key, [])
        i = bisect.bisect_right(times, c["at"])
        if i:
            command_latency.append(c["at"] - times[i - 1])

    return {
        "config": {"hosts": args.hosts, "vms_per_host": args.vms_per_host, "churn": args.churn,
                   "tick_seconds": args.tick_seconds, "seed": args.seed, "refresh_interval": 3.0,
                   "warmup_s": args.warmup, "duration_s": round(t1 - t0, 1)},
        "destroys_per_minute": {
            "sim_calls": len(calls) / minutes,
            "host_commands_created": len(in_window) / minutes,
            "audit_vm_destroyed": len(destroyed) / minutes,
        },
        "success": {
            "sim_calls": len(calls), "sim_calls_found": found,
            "sim_found_rate": found / len(calls) if calls else float("nan"),
            "sim_not_found_repeats": repeats,
            "audit_destroyed": len(destroyed), "audit_failed": len(failed),
            "audit_success_rate": len(destroyed) / (len(destroyed) + len(failed)) if destroyed or failed
            else float("nan"),
            "host_commands_states": dict(states),
            "host_commands_retried": sum(1 for c in in_window if c["attempts"] > 1),
        },
        "cost": {
            "send_commands_tasks": len(tasks),
            "send_commands_wall_s": task_seconds,
            "destroys_in_those_tasks": task_destroys,
            "wall_ms_per_destroy": 1000 * task_seconds / task_destroys if task_destroys else float("nan"),
            "task_wall_ms": _dist([1000 * t for t, _ in tasks]),
            "worker_cpu_s": {k: cpu1[k] - cpu0[k] for k in cpu0},
            "worker_cpu_s_per_minute": {k: (cpu1[k] - cpu0[k]) / minutes for k in cpu0},
        },
        "latency_s": {
            "down_audit_to_destroyed_audit": _dist(audit_latency),
            "command_created_to_sim_call": _dist(command_latency),
        },
    }


def report(result: dict[str, Any]) -> str:
    c, r, s, k, lat = (result["config"], result["destroys_per_minute"], result["success"], result["cost"],
                       result["latency_s"])
    td = k["task_wall_ms"]
    lines = [
        (f"fleet {c['hosts']} hosts x {c['vms_per_host']} VMs, churn {c['churn']}/host/min "
         f"(tick {c['tick_seconds']}s), poll every {c['refresh_interval']}s, window {c['duration_s']}s "
         f"after {c['warmup_s']}s warm-up"),
        "VM.destroy per minute:",
        f"  received by the simulator   {r['sim_calls']:8.1f}",
        f"  host_commands rows created  {r['host_commands_created']:8.1f}",
        f"  VmDestroyed audit lines     {r['audit_vm_destroyed']:8.1f}",
        "success:",
        (f"  simulator: {s['sim_calls_found']}/{s['sim_calls']} calls found a record ({100 * s['sim_found_rate']:.1f}%); "
         f"{s['sim_not_found_repeats']} of the others repeat an earlier call that found the record"),
        (f"  audit: {s['audit_destroyed']} destroyed, {s['audit_failed']} failed "
         f"({100 * s['audit_success_rate']:.1f}% success)"),
        (f"  host_commands created in the window by state: {s['host_commands_states']}; "
         f"needed more than one attempt: {s['host_commands_retried']}"),
        "cost (wall time of send_commands tasks, from the fetch worker's task log):",
        (f"  {k['send_commands_tasks']} tasks, {k['send_commands_wall_s']:.2f}s in all, "
         f"{k['destroys_in_those_tasks']} destroys -> {k['wall_ms_per_destroy']:.1f} ms per destroy"),
        (f"  per task: median {td['median']:.1f} ms, p90 {td['p90']:.1f} ms, max {td['max']:.1f} ms"
         if td.get("n") else "  per task: no samples"),
        (f"  worker CPU over the window (whole processes, for scale): fetch {k['worker_cpu_s']['fetch']:.1f}s "
         f"({k['worker_cpu_s_per_minute']['fetch']:.1f}s/min), update {k['worker_cpu_s']['update']:.1f}s "
         f"({k['worker_cpu_s_per_minute']['update']:.1f}s/min)"),
        "latency, Down committed -> destroyed:",
        f"  audit VmDown/VmStateChanged -> VmDestroyed: {_fmt(lat['down_audit_to_destroyed_audit'])}",
        f"  host_commands.created_at -> VM.destroy received: {_fmt(lat['command_created_to_sim_call'])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=500)
    p.add_argument("--vms-per-host", type=int, default=20)
    p.add_argument("--churn", type=float, default=2.0, help="life events per host per simulated minute")
    p.add_argument("--tick-seconds", type=float, default=1.0, help="real seconds per simulated second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warmup", type=float, default=30.0, help="seconds after every host is Up")
    p.add_argument("--duration", type=float, default=120.0, help="measured seconds")
    p.add_argument("--up-timeout", type=float, default=300.0)
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = p.parse_args(argv)
    result = measure(args)
    print(report(result))
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
