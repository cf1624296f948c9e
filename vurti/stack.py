"""Start and stop a whole local vurti: redis-server, simulator, workers and beat.

Used by `vurti run`, the end-to-end tests and the benchmark, so all three run
the same processes the same way. Every server binds 127.0.0.1; every child runs
in its own process group and is stopped (TERM, then KILL) when the stack closes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple, Self

# The command lines of every role, shared with docker/compose.yaml (tests/ops/test_compose.py
# checks that each service runs one of these): what the tests run is what a deployment runs.
PYTHON = (sys.executable, "-m")  # `celery` and `vurti` here run as modules of this interpreter


def worker_command(name: str, queues: str, pool: str, concurrency: int) -> list[str]:
    return ["celery", "-A", "tasks", "worker", "-Q", queues, "-P", pool, "-c", str(concurrency), "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "-l", "INFO"]


def beat_command(schedule_file: str) -> list[str]:
    return ["celery", "-A", "tasks", "beat", "-l", "INFO", "--pidfile=", "-s", schedule_file]


def flower_command(bind: str, port: int) -> list[str]:
    return ["vurti.cli.main", "flower", "--bind", bind, "--port", str(port)]


def metrics_command(bind: str, port: int) -> list[str]:
    return ["vurti.cli.main", "metrics", "--bind", bind, "--port", str(port)]


def upgrade_command() -> list[str]:
    return ["vurti.cli.main", "db", "upgrade"]


def sim_command(hosts: int, vms_per_host: int, churn: float, seed: int, port: int,
                extra: Sequence[str] = ()) -> list[str]:
    return ["vurti.cli.main", "sim", "--hosts", str(hosts), "--vms-per-host", str(vms_per_host),
            "--churn", str(churn), "--seed", str(seed), "--port", str(port), *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


class Worker(NamedTuple):
    """A celery worker to start: its node name (before the @), queues, pool, concurrency."""

    name: str
    queues: str
    pool: str = "prefork"
    concurrency: int = 2
    extra: tuple[str, ...] = ()


def update_worker(processes: int) -> Worker:
    """One writer runs in the worker's own process (solo): no hand-over of each message to a child."""
    if processes == 1:
        return Worker("update", "update", "solo", 1)
    return Worker("update", "update", "prefork", processes)


def _logged_since(path: Path, offset: int, text: bytes) -> bool:
    with open(path, "rb") as log:
        log.seek(offset)
        return text in log.read()


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    again: Callable[[], Child] | None = None  # how to start it again (workers and beat: LocalStack.revive)

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class LocalStack:
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)  # directories removed on close
    redis_port: int = 0
    redis_persist: bool = False
    pg: tuple[Path, Path, int, int | None, int | None] | None = None  # bindir, data root, port, uid, gid

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **self.env}

    # -- processes -------------------------------------------------------------
    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        log_path = self.workdir / f"{name}.log"
        out: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - owned by the child until stop
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.env, **(env or {})},
            cwd=str(self.workdir),
            start_new_session=True,
        )
        out.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def child(self, name: str) -> Child:
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(f"no running child named {name}")

    def stop(self, child: Child, timeout: float = 15.0) -> None:
        """TERM the child itself (Celery's warm shutdown stops its pool); KILL its whole group if it lingers."""
        if child.alive():
            child.proc.terminate()
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)  # pool children left behind, if any
        if child in self.children:
            self.children.remove(child)

    def revive(self) -> list[tuple[str, int | None]]:
        """Start again each worker or beat that exited by itself, as a supervisor's restart policy
        does (docker/compose.yaml: restart unless-stopped); returns (name, exit code) of each.

        A worker can end on a broker outage (kombu's restore of unacknowledged messages over a
        connection already torn down raises, and Celery calls that unrecoverable), so a stack
        that monitors for hours must not depend on none ever exiting. A child `stop` ended is
        no longer listed, so it is never started again.
        """
        revived: list[tuple[str, int | None]] = []
        for child in list(self.children):
            if child.again is None or child.alive():
                continue
            self.children.remove(child)
            revived.append((child.name, child.proc.returncode))
            with contextlib.suppress(TimeoutError):  # spawned; it gets ready once its broker is back
                child.again()
        return revived

    def close(self) -> None:
        """Stop beat and the workers together (each warm shutdown takes a second or more, and none
        waits for another), then the other children newest first: simulator, then the servers."""
        celery = [c for c in self.children if c.again is not None]
        for child in celery:
            if child.alive():
                child.proc.terminate()
        for child in celery:
            self.stop(child)
        for child in reversed(list(self.children)):
            self.stop(child)
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)
        self.scratch.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- servers ---------------------------------------------------------------
    def start_redis(self, persist: bool = False, port: int | None = None) -> str:
        """redis-server on loopback; `persist`: append-only file in the work directory (a restart
        keeps every key, queued messages included). `port`: the port of a stopped one, to start it again."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found: install it (apt-get install redis-server) or set VURTI_REDIS_URL")
        port = port or free_port()
        keep = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)] if persist \
            else ["--appendonly", "no"]
        self.spawn("redis", [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", *keep])
        wait_until(lambda: _port_open(port), 15, "redis-server")
        url = f"redis://127.0.0.1:{port}/0"
        self.env["VURTI_REDIS_URL"] = url
        self.redis_port, self.redis_persist = port, persist
        return url

    def stop_redis(self) -> None:
        """TERM: redis-server writes its append-only file (when persistent) and exits."""
        self.stop(self.child("redis"))

    def start_postgres(self) -> str:
        """A throwaway PostgreSQL (fsync off); its SQLAlchemy URL. As root, runs as the `postgres` user,
        since initdb refuses root."""
        bindir = _pg_bindir()
        ids = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            ids = (pw.pw_uid, pw.pw_gid)
        tmp = Path(tempfile.mkdtemp(prefix="vurti-pg-"))
        self.scratch.append(tmp)
        if ids:
            os.chown(tmp, *ids)

        # Popen switches user and group in the child itself: a preexec_fn is unsafe with threads.
        uid, gid = ids or (None, None)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(tmp / "data"), "-U", "vurti", "--auth=trust", "-E", "UTF8",
             "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, user=uid, group=gid,
        )
        port = free_port()
        self.pg = (bindir, tmp, port, uid, gid)
        self._spawn_postgres()
        url = f"postgresql+psycopg://vurti@127.0.0.1:{port}/postgres"
        self._wait_postgres(url)
        return url

    def _spawn_postgres(self) -> None:
        assert self.pg is not None, "start_postgres first"
        bindir, tmp, port, uid, gid = self.pg
        log_path = self.workdir / "postgres.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(tmp / "data"), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={tmp}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=uid, group=gid, start_new_session=True,
            )
        self.children.append(Child("postgres", proc, log_path))

    def stop_postgres(self) -> None:
        """Fast shutdown (SIGINT): open transactions are rolled back, clients disconnected."""
        child = self.child("postgres")
        child.proc.send_signal(signal.SIGINT)
        child.proc.wait(timeout=60)
        self.children.remove(child)

    def start_postgres_again(self) -> None:
        """The stopped PostgreSQL started again on its data and port."""
        assert self.pg is not None, "start_postgres first"
        self._spawn_postgres()
        self._wait_postgres(f"postgresql+psycopg://vurti@127.0.0.1:{self.pg[2]}/postgres")

    def _wait_postgres(self, url: str) -> None:
        def ready() -> bool:
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("select 1"))
                return True
            finally:
                engine.dispose()

        wait_until(ready, 60, "postgres")

    def start_sim(self, hosts: int, vms_per_host: int, churn: float, seed: int = 1, extra: Sequence[str] = (),
                  tls_dir: str | Path | None = None, agent_port: int = 0) -> str:
        """Start `vurti sim`; return its control API's URL (GET /control/hosts gives each agent's address).

        Agents listen on 127.1.0.0 + i at `agent_port` (0: any free port per host, so stacks started side
        by side never collide); with `tls_dir`, over TLS with the engine CA and certificates made there.
        """
        port = free_port()
        args = ["--agent-port", str(agent_port), *(["--tls-dir", str(tls_dir)] if tls_dir is not None else [])]
        self.spawn("sim", [*PYTHON, *sim_command(hosts, vms_per_host, churn, seed, port, [*args, *extra])])
        wait_until(lambda: _port_open(port), 60, "simulator")  # the agents listen before the control API does
        return f"http://127.0.0.1:{port}"

    def start_worker(self, name: str, queues: str, pool: str = "prefork", concurrency: int = 2,
                     extra: Sequence[str] = ()) -> Child:
        (child,) = self.start_workers([Worker(name, queues, pool, concurrency, tuple(extra))])
        return child

    def start_workers(self, specs: Sequence[Worker]) -> list[Child]:
        """Start workers side by side; return once every one is ready (each takes a second or
        more to import and connect)."""
        started: list[tuple[Child, int]] = []
        for name, queues, pool, concurrency, extra in specs:
            argv = [*PYTHON, *worker_command(name, queues, pool, concurrency), *extra]
            log_path = self.workdir / f"{name}.log"
            offset = log_path.stat().st_size if log_path.exists() else 0  # a restarted worker appends to its log
            child = self.spawn(name, argv, {"PYTHONPATH": _project_root()})
            child.again = functools.partial(self.start_worker, name, queues, pool, concurrency, extra)
            started.append((child, offset))
        for child, offset in started:
            wait_until(functools.partial(_logged_since, child.log_path, offset, b"ready."), 60,
                       f"worker {child.name}")
        return [child for child, _ in started]

    def start_update_worker(self, processes: int) -> Child:
        (child,) = self.start_workers([update_worker(processes)])
        return child

    def start_beat(self, name: str = "beat") -> Child:
        argv = [*PYTHON, *beat_command(str(self.workdir / f"{name}-schedule"))]
        child = self.spawn(name, argv, {"PYTHONPATH": _project_root()})
        child.again = lambda: self.start_beat(name)
        return child

    def start_flower(self, auth: str, port: int | None = None) -> str:
        """`vurti flower` on 127.0.0.1 with basic auth (`user:password`, handed over in its
        environment, never on a command line); its URL. Workers send task events only if started
        after `enable_task_events()`."""
        port = port or free_port()
        self.spawn("flower", [*PYTHON, *flower_command("127.0.0.1", port)],
                   {"PYTHONPATH": _project_root(), "VURTI_FLOWER_AUTH": auth})
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _http_ok(url + "/healthcheck"), 60, "flower")
        return url

    def enable_task_events(self) -> None:
        """Workers and beat started from now on send the task events Flower shows."""
        self.env["VURTI_TASK_EVENTS"] = "1"

    def enable_worker_metrics(self) -> Path:
        """Workers started from now on write Prometheus metrics to a fresh directory (multiprocess mode)."""
        path = Path(tempfile.mkdtemp(prefix="vurti-metrics-"))
        self.scratch.append(path)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        return path

    def start_metrics(self, port: int | None = None) -> str:
        """`vurti metrics` on 127.0.0.1; its /metrics URL."""
        port = port or free_port()
        self.spawn("metrics", [*PYTHON, *metrics_command("127.0.0.1", port)])
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _http_ok(url), 30, "vurti metrics")
        return url

    def logs(self, name: str) -> str:
        for child in self.children:
            if child.name == name:
                return child.log_path.read_text(errors="replace")
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl") or shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return candidates[-1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as reply:
        return bool(reply.status == 200)


def _project_root() -> str:
    """The directory holding celeryconfig.py and tasks/ (for `celery -A tasks`)."""
    here = Path(__file__).resolve().parent.parent
    existing = os.environ.get("PYTHONPATH", "")
    return str(here) + (os.pathsep + existing if existing else "")

