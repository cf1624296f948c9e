"""One benchmark run: start everything, warm up, measure, measure the bare limit, stop everything.

Timeline: redis-server x2 (vurti's, and one for the benchmark's own records so
vurti's command counts stay exact), the database, the simulator, workers and
beat; warm-up until every host is Up and a few cycles passed; a quiet window
(only the simulator's own churn), then a probe window where the benchmark pauses
and resumes random VMs at known times to time detection; then beat and workers
stop and the bare polling loop runs against the same simulator.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from vurti.bench import figures, procs, redisinfo
from vurti.bench.figures import Poll, Probe, Window
from vurti.bench.recorder import POLLS_KEY, SQL_FLUSH_EVERY, SQL_KEY, UPDATES_KEY
from vurti.bench.stats import per
from vurti.stack import Child, LocalStack, Worker, update_worker


@dataclass
class BenchConfig:
    hosts: int = 500
    vms_per_host: int = 20
    churn: float = 0.0
    seconds: float = 60.0  # measured time: the quiet window, then the probe window
    interval: float = 3.0
    stats_every: int = 5
    db: str = "sqlite"  # sqlite | postgresql
    fetch_workers: int = 1  # celery worker processes on the fetch queue (threads pool)
    fetch_threads: int = 16  # celery threads per fetch worker
    fetch_concurrency: int = 64  # agent calls in flight per fetch worker (VURTI_AGENT_POOL_SIZE)
    fetch_batch: int = 50
    update_concurrency: int = 2  # prefork processes of the update worker
    events_worker: bool = False  # one more (solo) update worker that reads the events queue only
    probes_per_s: float = 1.0  # simulator actions per second in the probe window (0: no probe window)
    bare_seconds: float = 15.0
    warmup_max: float = 300.0
    warmup_up: float = 1.0  # share of the hosts Up that ends the warm-up's first phase
    profile_seconds: float = 0.0  # >0: py-spy the workers for this long after the windows
    seed: int = 1
    push: bool = False  # fetch workers subscribe to VDSM's events; polls slow to push_interval
    push_interval: float = 15.0
    tls: bool = True  # agents over TLS with the simulator's engine CA, as real VDSM
    task_events: bool = False  # workers and beat send Flower's task events (VURTI_TASK_EVENTS=1)
    workdir: Path = field(default_factory=lambda: Path(".vurti-bench"))


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    redis_calls: dict[str, int]
    sql: dict[int, int]


ProgressFn = Callable[[str, float, float], None]  # (phase, done, total)


class BenchRun:
    def __init__(self, cfg: BenchConfig, progress: ProgressFn | None = None) -> None:
        self.cfg = cfg
        self.progress = progress or (lambda *_: None)
        self.workdir = cfg.workdir.resolve()
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.stack = LocalStack(self.workdir)
        self.kinds: dict[str, list[Child]] = {}
        self.kind_of: dict[int, str] = {}

    # -- orchestration ----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.stack.close()

    def _run(self) -> dict[str, Any]:
        from vurti.bootstrap import Services, set_services
        from vurti.config import Settings
        from vurti.sim.control_client import ControlClient
        from vurti.sim.registration import register_fleet
        from vurti.store.db import upgrade

        cfg, stack = self.cfg, self.stack
        self.progress("start", 0, 1)
        record_url = stack.start_redis()
        self.kinds["instrumentation"] = [stack.children[-1]]
        redis_url = stack.start_redis()
        self.kinds["redis"] = [stack.children[-1]]
        if cfg.db == "postgresql":
            db_url = stack.start_postgres()
            self.kinds["database"] = [stack.children[-1]]
        else:
            db_url = f"sqlite:///{self.workdir / 'vurti.db'}"
        pki = self.workdir / "pki"
        sim_url = stack.start_sim(cfg.hosts, cfg.vms_per_host, cfg.churn, cfg.seed, tls_dir=pki if cfg.tls else None)
        self.kinds["simulator"] = [stack.children[-1]]
        stack.env.update({
            "VURTI_DATABASE_URL": db_url,
            "VURTI_REDIS_URL": redis_url,
            "VURTI_REFRESH_INTERVAL": repr(cfg.interval),
            "VURTI_STATS_EVERY": str(cfg.stats_every),
            "VURTI_AGENT_POOL_SIZE": str(cfg.fetch_concurrency),
            "VURTI_FETCH_BATCH": str(cfg.fetch_batch),
            "VURTI_PUSH": "1" if cfg.push else "0",
            "VURTI_PUSH_INTERVAL": repr(cfg.push_interval),
        })
        if cfg.tls:
            stack.env.update({"VURTI_AGENT_CA_FILE": str(pki / "cacert.pem"),
                              "VURTI_AGENT_CERT_FILE": str(pki / "engine-cert.pem"),
                              "VURTI_AGENT_KEY_FILE": str(pki / "engine-key.pem")})
        svc = Services(Settings.from_env(stack.env))
        set_services(svc)
        upgrade(db_url)
        registered = register_fleet(svc, sim_url)
        stack.env["VURTI_BENCH_RECORD"] = record_url
        if cfg.task_events:
            stack.enable_task_events()
        writers = [update_worker(cfg.update_concurrency)] + ([Worker("events", "events", "solo", 1)]
                                                             if cfg.events_worker else [])
        started = stack.start_workers([
            *writers, *(Worker(f"fetch{i}", "fetch", "threads", cfg.fetch_threads) for i in range(cfg.fetch_workers))])
        self.kinds["worker-update"], fetch = started[:len(writers)], started[len(writers):]
        self.kinds["worker-fetch"] = fetch
        self.kinds["beat"] = [stack.start_beat()]
        warmup, hosts_up = self._warm_up(svc)

        main_redis = redis.Redis.from_url(redis_url)
        records = redis.Redis.from_url(record_url)
        sim = ControlClient(sim_url)
        windows: list[Window] = []
        snaps: list[Snapshot] = [self._snapshot(main_redis, records)]
        quiet = cfg.seconds if cfg.probes_per_s <= 0 else cfg.seconds / 2
        self._wait("quiet window", quiet)
        snaps.append(self._snapshot(main_redis, records))
        windows.append(Window("churn" if cfg.churn > 0 else "steady", snaps[0].at, snaps[1].at))
        probes: list[Probe] = []
        if cfg.probes_per_s > 0:
            prober = Prober(sim, cfg.probes_per_s, hold=4 * cfg.interval, seed=cfg.seed,
                            look=lambda vm_id: _host_seen(svc, main_redis, vm_id))
            prober.start()
            self._wait("probe window", cfg.seconds - quiet)
            snaps.append(self._snapshot(main_redis, records))
            prober.stop()
            probes = prober.probes
            windows.append(Window("probes", snaps[1].at, snaps[2].at))
            self._wait("detection grace", 2 * cfg.interval + 2)
        profile = self._profile() if cfg.profile_seconds > 0 else None
        rss = {kind: procs.peak_rss_mib(self._pids(kind)) for kind in ("worker-fetch", "worker-update", "beat")}

        self._wait("collecting records", 3 * SQL_FLUSH_EVERY)  # workers push update records periodically
        polls = [Poll.from_row(row) for raw in records.lrange(POLLS_KEY, 0, -1) for row in orjson.loads(raw)]
        updates = [orjson.loads(raw) for raw in records.lrange(UPDATES_KEY, 0, -1)]
        feed = _feed(main_redis, windows[-1].start)
        bare = self._bare(sim_url, sim)
        result: dict[str, Any] = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "registered": registered,
            "warmup_s": warmup,
            "hosts_up_after_warmup": hosts_up,
            "windows": [self._window_figures(w, snaps[i], snaps[i + 1], polls, updates)
                        for i, w in enumerate(windows)],
            "detection": self._detection(svc, probes, polls, updates, feed) if probes else None,
            "peak_rss_mib": {k: list(v.values()) for k, v in rss.items()},
            "bare": bare,
            "profile": profile,
        }
        achieved = max((w["polls"]["achieved_per_s"] or 0) for w in result["windows"])
        result["ratio_to_bare"] = per(achieved, bare["polls_per_s"])
        return result

    # -- phases -----------------------------------------------------------------------
    def _warm_up(self, svc: Any) -> tuple[float, int]:
        """Seconds it took, and the hosts Up when it ended."""
        from vurti.domain.status import HostStatus

        started = time.monotonic()
        deadline = started + self.cfg.warmup_max
        need = math.ceil(self.cfg.warmup_up * self.cfg.hosts)
        up = 0
        while time.monotonic() < deadline:
            self._check_children()
            with svc.uow() as uow:
                up = sum(1 for _, state in uow.hosts.list_hosts() if state.status is HostStatus.Up)
            self.progress("warm-up: hosts Up", up, self.cfg.hosts)
            if up >= need:
                break
            time.sleep(1.0)
        if up < need:
            raise RuntimeError(f"only {up} of {self.cfg.hosts} hosts Up after {self.cfg.warmup_max:.0f}s of warm-up")
        # A host is Up one poll before its VMs are recorded; wait for them too, or the first
        # measured window is spent registering them. Churn makes the VM count drift (destroyed
        # VMs' records, restarts; at thousands of hosts it never rests), so registration is
        # settled once as many hosts have VMs recorded as had to be Up, or no VM row was added
        # for two intervals (the push interval when polls slow to it).
        known = 0
        settle = 2 * (self.cfg.push_interval if self.cfg.push else self.cfg.interval)
        last_change, last_known = time.monotonic(), -1
        while time.monotonic() < deadline:
            self._check_children()
            with svc.uow() as uow:
                known, with_vms = sum(uow.vms.count_by_status().values()), uow.vms.count_hosts_running_vms()
            self.progress("warm-up: hosts with VMs recorded", min(with_vms, need), need)
            if known != last_known:
                last_change, last_known = time.monotonic(), known
            if with_vms >= need or (known > 0 and time.monotonic() - last_change >= settle):
                break
            time.sleep(1.0)
        self._wait("warm-up: settling", max(2 * self.cfg.interval, self.cfg.stats_every * self.cfg.interval))
        return round(time.monotonic() - started, 1), up

    def _wait(self, phase: str, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.progress(phase, seconds - left, seconds)
            self._check_children()
            time.sleep(min(0.5, left))
        self.progress(phase, seconds, seconds)

    def _check_children(self) -> None:
        dead = [c.name for c in self.stack.children if not c.alive()]
        if dead:
            raise RuntimeError(f"stopped unexpectedly: {', '.join(dead)} (logs in {self.workdir})")

    def _pids(self, kind: str) -> list[int]:
        stats = procs.all_stats()
        return [pid for c in self.kinds.get(kind, []) for pid in procs.descendants(c.proc.pid, stats)]

    def _snapshot(self, main_redis: redis.Redis, records: redis.Redis) -> Snapshot:
        stats = procs.all_stats()
        cpu = {kind: round(sum(procs.tree_cpu_seconds(c.proc.pid, stats) for c in children), 3)
               for kind, children in self.kinds.items()}
        calls = redisinfo.command_calls(main_redis.info("commandstats"))
        sql = {int(k): int(v) for k, v in records.hgetall(SQL_KEY).items()}
        for kind, children in self.kinds.items():
            for c in children:
                for pid in procs.descendants(c.proc.pid, stats):
                    self.kind_of[pid] = kind
        return Snapshot(time.time(), cpu, calls, sql)

    def _window_figures(self, w: Window, a: Snapshot, b: Snapshot, polls: list[Poll],
                        updates: list[dict[str, Any]]) -> dict[str, Any]:
        p = figures.poll_figures(polls, w, self.cfg.hosts, self.cfg.interval)
        cycles = p["host_cycles"]
        u = figures.update_figures(updates, w, cycles)
        redis_calls = redisinfo.diff(a.redis_calls, b.redis_calls)
        sql_total = sum(b.sql.get(pid, 0) - a.sql.get(pid, 0) for pid in b.sql)
        sql_by_kind: dict[str, int] = {}
        for pid in b.sql:
            kind = self.kind_of.get(pid, "other")
            sql_by_kind[kind] = sql_by_kind.get(kind, 0) + b.sql[pid] - a.sql.get(pid, 0)
        cpu = {k: round(b.cpu[k] - a.cpu.get(k, 0.0), 3) for k in b.cpu}
        return {
            "name": w.name,
            "seconds": round(w.seconds, 2),
            "polls": p,
            "updates": u,
            "sql": {
                "statements": sql_total,
                "per_host_cycle": per(sql_total, cycles),
                "outside_updates": sql_total - u["sql_in_updates"],
                "by_process_kind": sql_by_kind,
            },
            "redis": {
                "commands": sum(redis_calls.values()),
                "per_host_cycle": per(sum(redis_calls.values()), cycles),
                "top_per_host_cycle": {k: per(v, cycles) for k, v in list(redis_calls.items())[:8]},
            },
            "cpu_s": cpu,
            "cpu_s_per_1000_host_cycles": {k: per(v, cycles, 1000) for k, v in cpu.items()},
            "beat_cores": per(cpu.get("beat", 0.0), w.seconds),
        }

    def _detection(self, svc: Any, probes: list[Probe], polls: list[Poll], updates: list[dict[str, Any]],
                   feed: list[tuple[float, str]]) -> dict[str, Any]:
        """Detection figures, and for each probe never committed what vurti did with its host around it."""
        found = figures.detection(probes, updates, feed)
        span = 4 * self.cfg.interval + 2 * self.cfg.push_interval
        for missed in found["missed_probes"]:
            with svc.uow() as uow:
                vm = uow.vms.get_vm(missed["vm_id"])
                host = uow.hosts.get_host_state(vm.host_id) if vm is not None and vm.host_id else None
            missed["stored"] = {"vm": None if vm is None else vm.status.name,
                                "host": None if host is None else host.status.name}
            host_id = missed["seen"].get("host_id") or (vm.host_id if vm is not None else None)
            if host_id:
                missed.update(figures.around(host_id, float(missed["at"]), span, polls, updates))
        return found

    def _profile(self) -> dict[str, Any]:
        from vurti.bench.profile import record_workers

        self.progress("profiling workers", 0, self.cfg.profile_seconds)
        targets = {"worker-fetch": self.kinds["worker-fetch"][0].proc.pid,
                   "worker-update": self.kinds["worker-update"][0].proc.pid}
        return record_workers(targets, self.cfg.profile_seconds, self.workdir)

    def _bare(self, sim_url: str, sim: Any) -> dict[str, Any]:
        """Stop beat and workers, then poll the same hosts with the bare loop, one process per fetch worker."""
        for kind in ("beat", "worker-fetch", "worker-update"):
            for child in self.kinds.pop(kind, []):
                self.stack.stop(child)
        urls = [str(h["address"]) for h in sim.hosts()]
        n = self.cfg.fetch_workers
        parts = [urls[i::n] for i in range(n)]
        sim_pid = self.kinds["simulator"][0].proc.pid
        sim_cpu: list[tuple[float, float]] = []  # (monotonic time, the simulator's CPU seconds so far)
        runners = []
        for i, part in enumerate(parts):
            path = self.workdir / f"bare-urls-{i}.txt"
            path.write_text("\n".join(part))
            runners.append(subprocess.Popen(
                [sys.executable, "-m", "vurti.bench.bare", str(path), "--concurrency", str(self.cfg.fetch_concurrency),
                 "--seconds", repr(self.cfg.bare_seconds), "--stats-every", str(self.cfg.stats_every)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                env=self.stack.env))
        outs = []
        started = time.monotonic()
        while any(r.poll() is None for r in runners):
            elapsed = time.monotonic() - started
            sim_cpu.append((time.monotonic(), procs.tree_cpu_seconds(sim_pid, procs.all_stats())))
            self.progress("bare polling limit", min(elapsed, self.cfg.bare_seconds), self.cfg.bare_seconds)
            if elapsed > self.cfg.bare_seconds + 240:  # opening the links takes a while at thousands of hosts
                for r in runners:
                    r.kill()
            time.sleep(0.5)
        sim_cpu.append((time.monotonic(), procs.tree_cpu_seconds(sim_pid, procs.all_stats())))
        for r in runners:
            out, err = r.communicate()
            if r.returncode != 0:
                raise RuntimeError(f"bare polling loop failed: {err.decode(errors='replace')[-2000:]}")
            outs.append(json.loads(out))
        # The simulator's CPU while the loops polled (their windows), not while the links were opened.
        window = (min(o["window"][0] for o in outs), max(o["window"][1] for o in outs))
        used = _at(sim_cpu, window[1]) - _at(sim_cpu, window[0])
        polls = sum(o["polls"] for o in outs)
        seconds = max(o["seconds"] for o in outs)
        return {
            "processes": n,
            "concurrency": self.cfg.fetch_concurrency,
            "polls": polls,
            "errors": sum(o["errors"] for o in outs),
            "polls_per_s": round(polls / seconds, 2),
            "client_cpu_s_per_1000": per(sum(o["cpu_s"] for o in outs), polls, 1000),
            "simulator_cpu_s_per_1000": per(used, polls, 1000),
        }


class Prober:
    """Pause and later resume random Up VMs at a steady rate, noting when each change was made."""

    def __init__(self, sim: Any, rate: float, hold: float, seed: int, limit: int = 2000,
                 look: Callable[[str], dict[str, Any]] = lambda _vm_id: {}) -> None:
        self.sim = sim
        self.look = look  # what vurti knows of a probed VM's host, noted with the probe
        self.rate = rate
        self.hold = hold
        self.limit = limit
        self.rng = random.Random(seed)
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-prober", daemon=True)
        self._candidates = [v["vm_id"] for v in sim.vms() if (v.get("truth") or {}).get("status") == "Up"]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from vurti.sim.control_client import ControlError

        paused: list[tuple[float, str]] = []
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and len(self.probes) < self.limit and self._candidates:
            now = time.time()
            try:
                if paused and paused[0][0] <= now:
                    _, vm = paused.pop(0)
                    at = time.time()
                    self.sim.resume(vm)
                    self.probes.append(Probe(vm, "resume", at, self.look(vm)))
                else:
                    vm = self._candidates.pop(self.rng.randrange(len(self._candidates)))
                    at = time.time()
                    self.sim.pause(vm)
                    self.probes.append(Probe(vm, "pause", at, self.look(vm)))
                    paused.append((at + self.hold, vm))
            except ControlError:
                pass  # the simulator's own churn moved that VM: not a probe
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        for _, vm in paused:  # leave the fleet as found; these are not timed
            with contextlib.suppress(ControlError):
                self.sim.resume(vm)


def _host_seen(svc: Any, client: redis.Redis, vm_id: str) -> dict[str, Any]:
    """Whose link carried the events of a probed VM's host, and its poll count, just after the probe."""
    from vurti.runtime import keys

    with svc.uow() as uow:
        vm = uow.vms.get_vm(vm_id)
    if vm is None or not vm.host_id:
        return {}
    holder, cycle = client.hget(keys.PUSH, vm.host_id), client.hget(keys.host_cache(vm.host_id), "cycle")
    return {"host_id": vm.host_id, "holder": holder.decode() if isinstance(holder, bytes) else holder, "polls": int(cycle or 0)}


def _feed(client: redis.Redis, since: float) -> list[tuple[float, str]]:
    """(time put on the live feed, VM id) of every event since `since`."""
    from vurti.runtime import keys

    out: list[tuple[float, str]] = []
    start = f"{int(since * 1000)}-0"
    while True:
        # redis-py types an entry's fields as optional str or bytes; this client does not decode
        batch = cast("list[tuple[bytes, dict[bytes, bytes]]]",
                     client.xrange(keys.EVENTS_STREAM, min=start, count=10_000))
        if not batch:
            return out
        for entry_id, fields in batch:
            data = orjson.loads(fields.get(b"data", b"{}"))
            if data.get("vm_id"):
                out.append((figures.stream_id_seconds(entry_id), str(data["vm_id"])))
        last = batch[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"


def _at(samples: list[tuple[float, float]], t: float) -> float:
    """A cumulative figure at time `t`, interpolated between the samples around it."""
    before = [s for s in samples if s[0] <= t] or samples[:1]
    after = [s for s in samples if s[0] >= t] or samples[-1:]
    (t0, v0), (t1, v1) = before[-1], after[0]
    return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
