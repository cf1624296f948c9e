"""The faults, one function each: inject into a running rig, return when the fault has ended.

Each returns a Span: when the fault began and ended (the end is when the faulted part
is whole again: a killed worker ready, a server accepting connections) and notes that
tell whether the fault hit what it aimed at (a worker killed mid-batch, a stale
write refused).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vurti.faults.procs import children_of, signal_pids
from vurti.faults.rig import Layout, Rig
from vurti.runtime import keys
from vurti.runtime.members import owner
from vurti.stack import wait_until

UNACKED, UNACKED_INDEX = "unacked", "unacked_index"  # kombu's Redis transport: messages taken, not acknowledged


@dataclass
class Span:
    start: float
    end: float = 0.0
    notes: list[str] = field(default_factory=list)
    blind_vms: frozenset[str] | None = None  # the VMs the fault hid (None: all of them, when blind)
    settle: Callable[[], None] | None = None  # waited for while the fleet churns on after the fault


@dataclass(frozen=True)
class Case:
    name: str
    fault: str  # as the table shows it
    inject: Callable[[Rig], Span]
    short: bool = False
    layout: Layout = field(default_factory=Layout)
    blind: bool = False  # the fault takes observation away: states held only inside it need not be seen
    converge_deadline: float = 90.0


def _held_lock(rig: Rig) -> tuple[str, str]:
    """(host id, owner task id) of an update holding a host's lock now."""
    found: list[tuple[str, str]] = []

    def holding() -> bool:
        for key in rig.redis.scan_iter(match=keys.host_lock("*"), count=1000):
            value = rig.redis.get(key)
            if value:
                name = key.decode() if isinstance(key, bytes) else str(key)
                text = value.decode() if isinstance(value, bytes) else str(value)
                found.append((name.rsplit(":", 1)[1], text.split("|", 1)[0]))
                return True
        return False

    wait_until(holding, 60, "an update holding a lock", interval=0.002)
    return found[-1]


def _worker_lost(rig: Rig, name: str, before: int) -> bool:
    log = rig.local.logs(name)[before:]
    return "WorkerLostError" in log or "signal 9" in log


def kill_update_prefork(rig: Rig) -> Span:
    """SIGKILL the pool processes of the update worker while an update holds a lock, three times."""
    span = Span(time.time())
    parent = rig.local.child("update1")
    hits = 0
    for n in range(3):
        if n:
            time.sleep(3)  # churn between kills
        before = len(rig.local.logs("update1"))
        _held_lock(rig)
        signal_pids(children_of(parent.proc.pid), signal.SIGKILL)
        wait_until(lambda: len(children_of(parent.proc.pid)) >= 2, 60, "the pool's new processes")
        wait_until(lambda: _worker_lost(rig, "update1", before), 30, "the worker's report of the loss")  # noqa: B023
        hits += 1
    span.end = time.time()
    span.notes.append(f"{hits} kills, each with a task lost mid-run (WorkerLostError)")
    return span


def kill_update_solo(rig: Rig) -> Span:
    """SIGKILL a solo update worker while it holds a lock; start it again. The messages it had taken
    come back after Redis's visibility timeout, stale by then: the case goes on until they have run."""
    span = Span(time.time())
    child = rig.local.child("update1")
    _held_lock(rig)
    signal_pids([child.proc.pid], signal.SIGKILL)
    span.start = time.time()
    taken = [t.decode() if isinstance(t, bytes) else str(t) for t in rig.redis.zrange(UNACKED_INDEX, 0, -1)]
    time.sleep(2)  # down for a while, as a supervisor would take to restart it
    rig.restart("update1")
    span.end = time.time()

    def redelivered() -> None:
        wait_until(lambda: not any(rig.redis.hexists(UNACKED, t) for t in taken), 300,
                   "the killed worker's messages to come back and run")
        span.notes.append(f"{len(taken)} messages taken by the killed worker came back and ran "
                          f"{time.time() - span.start:.0f}s after the kill")

    span.settle = redelivered
    return span


def kill_fetch(rig: Rig) -> Span:
    """SIGKILL the fetch worker that owns a host being polled now; start it again."""
    found: list[str] = []

    def polling() -> bool:
        for key in rig.redis.scan_iter(match=keys.host_fetching("*"), count=1000):
            name = key.decode() if isinstance(key, bytes) else str(key)
            found.append(name.rsplit(":", 1)[1])
            return True
        return False

    wait_until(polling, 60, "a poll in flight", interval=0.002)
    members = [m.decode() if isinstance(m, bytes) else str(m) for m in rig.redis.zrange(keys.MEMBERS, 0, -1)]
    victim = owner(found[-1], members) or ""
    name = victim.split("@", 1)[0]
    span = Span(time.time())
    signal_pids([rig.local.child(name).proc.pid], signal.SIGKILL)
    span.notes.append(f"killed {name}, the owner of a host being polled, of {len(members)} fetch workers")
    time.sleep(5)  # its hosts go to the other member when its membership runs out
    rig.restart(name)
    span.end = time.time()
    return span


def kill_beat(rig: Rig) -> Span:
    span = Span(time.time())
    signal_pids([rig.local.child("beat").proc.pid], signal.SIGKILL)
    time.sleep(5)
    rig.restart("beat")
    span.end = time.time()
    return span


def restart_redis(rig: Rig) -> Span:
    span = Span(time.time())
    rig.local.stop_redis()
    time.sleep(2)
    rig.local.start_redis(rig.local.redis_persist, rig.local.redis_port)
    span.end = time.time()
    return span


def _postgres_down(seconds: float) -> Callable[[Rig], Span]:
    def inject(rig: Rig) -> Span:
        span = Span(time.time())
        rig.local.stop_postgres()
        polls = _polls(rig)
        time.sleep(seconds)
        span.notes.append(f"{_polls(rig) - polls} polls while the database was down")
        rig.local.start_postgres_again()
        span.end = time.time()
        beat = rig.local.logs("beat")
        span.notes.append(f"beat: {beat.count('Traceback')} tracebacks")
        return span
    return inject


def _polls(rig: Rig) -> int:
    total = 0
    for key in rig.redis.scan_iter(match=keys.host_cache("*"), count=1000):
        total += int(rig.redis.hget(key, "cycle") or 0)
    return total


def pause_writer(rig: Rig) -> Span:
    """SIGSTOP the solo update worker holding a lock past the lock's TTL, then SIGCONT it."""
    _, task_id = _held_lock(rig)
    span = Span(time.time())
    name = next(n for n in ("update1", "update2") if task_id in rig.local.logs(n))
    pid = rig.local.child(name).proc.pid
    signal_pids([pid], signal.SIGSTOP)
    before = len(rig.local.logs(name))
    ttl = float(dict(rig.layout.env)["VURTI_LOCK_TTL"])
    time.sleep(ttl + 3)
    signal_pids([pid], signal.SIGCONT)
    span.end = time.time()

    def told() -> None:
        log = rig.local.logs(name)[before:]
        span.notes.append(f"paused {name} {ttl + 3:.0f}s holding a lock; after resuming: "
                          f"{log.count('is stale; update dropped')} writes refused by fencing, "
                          f"{log.count('expired before release')} locks expired under it")

    span.settle = told
    return span


def two_beats(rig: Rig) -> Span:
    span = Span(time.time())
    second = rig.local.start_beat("beat2")
    time.sleep(20)
    rig.local.stop(second)
    span.end = time.time()
    return span


def two_update_workers(rig: Rig) -> Span:
    """Both update workers (2 processes each) run throughout; the window is 20 s of churn."""
    span = Span(time.time())
    time.sleep(20)
    span.end = time.time()
    return span


def duplicate_reorder(rig: Rig) -> Span:
    """Update messages held back, then put back newest first and each twice; the agents' events
    duplicated and reordered meanwhile."""
    span = Span(time.time())
    hosts = rig.host_names[:2]
    rig.sim.set_fault(hosts[0], "events_duplicate")
    rig.sim.set_fault(hosts[1], "events_reorder", seconds=1.5)
    rig.stop("update1")
    time.sleep(5)
    queued = rig.redis.lrange("update", 0, -1)
    pipe = rig.redis.pipeline()
    pipe.delete("update")
    doubled = [m for m in reversed(queued) for _ in (0, 1)]
    if doubled:
        pipe.rpush("update", *doubled)
    pipe.execute()
    span.notes.append(f"{len(queued)} update messages put back reversed, each twice")
    before = len(rig.local.logs("update1"))
    rig.restart("update1")
    time.sleep(5)
    for host in hosts:
        rig.sim.clear_fault(host)
    span.end = time.time()

    def told() -> None:
        log = rig.local.logs("update1")[before:]
        span.notes.append(f"{log.count('written by another run')} writes redone on a fresh snapshot (a twin "
                          f"had written), {log.count('is stale; update dropped')} refused by fencing")

    span.settle = told
    return span


def fuzz_live(rig: Rig) -> Span:
    """One host answers fuzzed replies for 20 s while the others are monitored."""
    host = rig.host_names[0]
    span = Span(time.time())
    on_host = {v for v, t in rig.sim.truth().items() if t.get("host") == host}
    rig.sim.set_fault(host, "fuzz", seed=7)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # every VM that ran there meanwhile is hidden by the fault
        on_host |= {v for v, t in rig.sim.truth().items() if t.get("host") == host}
        time.sleep(0.2)
    hits = rig.sim.host(host)["fault"]["hits"]
    rig.sim.clear_fault(host)
    span.end = time.time()
    span.blind_vms = frozenset(on_host)
    dead = [c.name for c in rig.local.children if not c.alive()]
    span.notes.append(f"{hits} fuzzed replies from {host}; processes down: {dead or 'none'}")
    return span


def baseline(rig: Rig) -> Span:
    span = Span(time.time())
    time.sleep(10)
    span.end = time.time()
    return span


PG = Layout(db="postgres")
CASES = [
    Case("baseline", "none (control)", baseline),
    Case("kill-update-prefork", "SIGKILL update worker's pool mid-batch (prefork) x3", kill_update_prefork,
         short=True),
    Case("kill-update-solo", "SIGKILL update worker mid-batch (solo)", kill_update_solo,
         layout=Layout(update_pool="solo"), converge_deadline=180),
    Case("kill-fetch", "SIGKILL fetch worker mid-poll (1 of 2)", kill_fetch, short=True,
         layout=Layout(fetch_workers=2), blind=True),
    Case("kill-beat", "SIGKILL beat, 5 s down", kill_beat, short=True),
    Case("redis-restart", "Redis restarted, no persistence", restart_redis, short=True, blind=True),
    Case("redis-restart-aof", "Redis restarted, append-only file", restart_redis,
         layout=Layout(persist_redis=True), blind=True),
    Case("postgres-60s", "PostgreSQL stopped 60 s", _postgres_down(60), layout=PG, blind=True),
    Case("db-down-beat", "database unreachable 15 s while beat runs", _postgres_down(15), layout=PG,
         blind=True),
    Case("pause-writer", "writer SIGSTOPped past its lock TTL (6 s)", pause_writer,
         layout=Layout(update_pool="solo", update_workers=2,
                       env=(("VURTI_LOCK_TTL", "6"), ("VURTI_UPDATE_TIME_LIMIT", "5")))),
    Case("two-beats", "two beats for 20 s", two_beats),
    Case("two-update-workers", "two update workers (2 processes each) on PostgreSQL", two_update_workers,
         layout=Layout(db="postgres", update_workers=2)),
    Case("duplicate-reorder", "update messages duplicated and reordered; events too", duplicate_reorder),
    Case("fuzz-live", "one host's replies fuzzed for 20 s", fuzz_live, blind=True),
]
BY_NAME = {c.name: c for c in CASES}
