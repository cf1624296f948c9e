"""`vurti run`: the whole system on one machine, on embedded defaults, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vurti.agent.address import VDSM_PORT
from vurti.config import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import RenderableType

    from vurti.bootstrap import Services
    from vurti.stack import LocalStack
    from vurti.store.audit import AuditEntry


@click.command("run")
@click.option("--hosts", default=20, show_default=True, type=click.IntRange(1, 20_000), help="Simulated hosts.")
@click.option("--vms-per-host", default=10, show_default=True, type=click.IntRange(0, 500))
@click.option("--churn", default=2.0, show_default=True, type=click.FloatRange(0), help="Simulator churn rate.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--workdir", default=".vurti", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Logs, and the SQLite database unless VURTI_DATABASE_URL is set.")
@click.option("--duration", default=0.0, type=click.FloatRange(0), help="Stop after this many seconds (0: Ctrl-C).")
@click.option("--flower-port", default=5555, show_default=True, type=click.IntRange(0, 65535),
              help="Flower (task monitor, basic auth) on 127.0.0.1; 0: no Flower, and no task events.")
@click.option("--metrics-port", default=9108, show_default=True, type=click.IntRange(0, 65535),
              help="`vurti metrics` for Prometheus on 127.0.0.1; 0: none.")
def run(hosts: int, vms_per_host: int, churn: float, seed: int, workdir: Path, duration: float,
        flower_port: int, metrics_port: int) -> None:
    """Start redis-server, a simulated fleet, workers, beat, Flower and metrics; show a live summary."""
    from vurti.bootstrap import Services, set_services
    from vurti.config import Settings
    from vurti.sim.registration import register_fleet
    from vurti.stack import LocalStack, Worker, update_worker
    from vurti.store.db import upgrade

    workdir = workdir.resolve()
    env: dict[str, str] = {}
    if not os.environ.get("VURTI_DATABASE_URL"):
        env["VURTI_DATABASE_URL"] = f"sqlite:///{workdir / 'vurti.db'}"
    stack = LocalStack(workdir, env)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        click.echo(f"starting a simulated fleet of {hosts} hosts x {vms_per_host} VMs ...")
        # VDSM's own port on a loopback address per host, over TLS with the simulator's engine CA:
        # the same addresses every run, so a second run in the same folder finds its hosts again.
        pki = workdir / "pki"
        sim_url = stack.start_sim(hosts, vms_per_host, churn, seed, tls_dir=pki, agent_port=VDSM_PORT)
        for name, file in (("CA", "cacert.pem"), ("CERT", "engine-cert.pem"), ("KEY", "engine-key.pem")):
            stack.env.setdefault(f"VURTI_AGENT_{name}_FILE", str(pki / file))
        if not os.environ.get("VURTI_REDIS_URL"):
            click.echo("starting redis-server ...")
            stack.start_redis()
        settings = Settings.from_env(stack.env)
        svc = Services(settings)
        set_services(svc)
        click.echo(f"database {redact_url(settings.database_url)}")
        upgrade(settings.database_url)
        registered = register_fleet(svc, sim_url)
        click.echo(f"registered {registered} new hosts (agents over STOMP with TLS on port {VDSM_PORT}); "
                   "starting workers and beat ...")
        if flower_port:
            stack.enable_task_events()  # before the workers start: they read it once
        if metrics_port:
            stack.enable_worker_metrics()
        # SQLite takes one writer at a time: concurrent update processes only wait on its lock.
        writers = 1 if settings.database_url.startswith("sqlite") else 2
        stack.start_workers([Worker("fetch", "fetch", "threads", 16), update_worker(writers)])
        stack.start_beat()
        if flower_port:
            user, where = _flower_login(settings.ops.flower_auth, workdir)
            url = stack.start_flower(f"{user}:{_password(settings.ops.flower_auth, workdir)}", flower_port)
            click.echo(f"Flower on {url} (user {user}, password {where})")
        if metrics_port:
            click.echo(f"metrics on {stack.start_metrics(metrics_port)}")
        click.echo(f"logs in {workdir}; Ctrl-C to stop")
        _live(svc, duration, lambda: stopping, lambda: _revive(stack))
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping ...")
        stack.close()
        click.echo("stopped")


def _flower_login(auth: str | None, workdir: Path) -> tuple[str, str]:
    """Who logs in to Flower, and where the password is (never printed)."""
    if auth:
        return auth.split(":", 1)[0], "from VURTI_FLOWER_AUTH"
    return "admin", f"in {workdir / 'flower-password'}"


def _password(auth: str | None, workdir: Path) -> str:
    """VURTI_FLOWER_AUTH's password, else one made for this run in a file only its owner reads."""
    if auth:
        return auth.split(":", 1)[1]
    import secrets

    path = workdir / "flower-password"
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(password + "\n")
    return password


def _revive(stack: LocalStack) -> list[str]:
    """Workers and beat that exited by themselves, started again (monitoring must not stop)."""
    return [f"{name} exited (code {code}) and was started again; its log: {stack.workdir / name}.log"
            for name, code in stack.revive()]


def _live(svc: Services, duration: float, stop_requested: Callable[[], bool],
          supervise: Callable[[], list[str]]) -> None:
    """A live table on a terminal; a plain summary line every few seconds otherwise (logs, pipes).
    Every second, `supervise` starts again what exited and says so."""
    from rich.console import Console
    from rich.live import Live

    started = time.monotonic()

    def running() -> bool:
        return not stop_requested() and (duration == 0 or time.monotonic() - started < duration)

    if not Console().is_terminal:
        last = 0.0
        while running():
            for line in supervise():
                click.echo(line)
            if time.monotonic() - last >= 5.0:
                click.echo(_summary_line(svc), nl=True)
                last = time.monotonic()
            _sleep_while(running, 1.0)
        return
    with Live(_summary(svc), refresh_per_second=2, screen=False) as live:
        while running():
            _sleep_while(running, 1.0)
            for line in supervise():
                live.console.print(line)
            live.update(_summary(svc))


def _sleep_while(running: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and running():
        time.sleep(0.1)


def _counts(svc: Services) -> tuple[Counter[str], Counter[str], list[AuditEntry]]:
    with svc.uow() as uow:
        hosts = uow.hosts.list_hosts()
        vms = uow.vms.count_by_status()
        recent = uow.audit.recent(12, None)
    return (Counter(state.status.name for _, state in hosts),
            Counter({status.name: n for status, n in vms.items()}), recent)


def _summary_line(svc: Services) -> str:
    hosts, vms, _ = _counts(svc)
    fmt = ", ".join
    return (f"{time.strftime('%H:%M:%S')} hosts: {fmt(f'{k}: {v}' for k, v in hosts.most_common())} | "
            f"VMs: {fmt(f'{k}: {v}' for k, v in vms.most_common())}")


def _summary(svc: Services) -> RenderableType:
    from rich.console import Group
    from rich.table import Table

    host_counts, vm_counts, recent = _counts(svc)
    counts = Table(title=f"vurti — {sum(host_counts.values())} hosts, {sum(vm_counts.values())} VMs",
                   show_header=True)
    counts.add_column("hosts by status")
    counts.add_column("VMs by status")
    left = [f"{k}: {v}" for k, v in host_counts.most_common()]
    right = [f"{k}: {v}" for k, v in vm_counts.most_common()]
    for i in range(max(len(left), len(right))):
        counts.add_row(left[i] if i < len(left) else "", right[i] if i < len(right) else "")
    events = Table(title="recent events", show_header=False)
    events.add_column("event")
    for entry in sorted(recent, key=lambda e: e.id):
        events.add_row(f"{time.strftime('%H:%M:%S', time.localtime(entry.at))} {entry.message}")
    return Group(counts, events)
