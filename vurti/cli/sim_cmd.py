"""`vurti sim`: serve a simulated fleet of VDSM hosts (JSON-RPC over STOMP) and its control API."""

from __future__ import annotations

import asyncio
import sys
import threading

import click

from vurti.sim.server import SimConfig, is_loopback, serve


@click.command()
@click.option("--hosts", type=click.IntRange(1, 100_000), default=10, show_default=True, help="Number of hosts.")
@click.option("--vms-per-host", type=click.IntRange(0, 5_000), default=20, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same ids and same history.")
@click.option("--port", type=click.IntRange(0, 65535), default=8700, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address of the control API (and of every agent with --agent-port-base).")
@click.option("--churn", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Life events per host per simulated minute; 0: statuses never change by themselves.")
@click.option("--clusters", type=click.IntRange(1), default=1, show_default=True,
              help="Hosts are split into this many clusters; migrations stay inside a cluster.")
@click.option("--agent-port", type=click.IntRange(0, 65535), default=54321, show_default=True,
              help="Port of every host's agent; host i listens on 127.1.0.0 + i (0: any free port per host).")
@click.option("--agent-port-base", type=click.IntRange(1, 65535), default=None,
              help="Instead: every host on --bind, host i at port BASE + i - 1 (containers, non-Linux).")
@click.option("--tls-dir", type=click.Path(file_okay=False), default=None,
              help="Serve TLS with a required client certificate; the engine CA, host and engine certificates "
                   "are created here when missing.")
@click.option("--max-frame", type=click.IntRange(1024), default=8 * 1024 * 1024, show_default=True,
              help="Largest STOMP frame accepted from a client, in bytes.")
@click.option("--control-token", envvar="VURTI_SIM_CONTROL_TOKEN", default=None,
              help="Bearer token of /control/ (required unless bound to loopback).")
@click.option("--tick-seconds", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Wall seconds per tick (one simulated second); 0: ticks only via POST /control/tick.")
@click.option("--postcopy-share", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of life's migrations that go post-copy.")
@click.option("--legacy-hosts", type=click.IntRange(0), default=0, show_default=True,
              help="The first N hosts run VDSM 4.30 (devices in Host.getVMFullList, no Host.dumpxmls); "
                   "the others 4.50.")
@click.option("--render-cache/--no-render-cache", default=True, show_default=True,
              help="Reuse a host's rendered VM statistics within a statistics period.")
@click.option("--register", is_flag=True,
              help="Once listening, add the simulated hosts to vurti's database (VURTI_DATABASE_URL, VURTI_REDIS_URL).")
def sim(hosts: int, vms_per_host: int, seed: int, port: int, bind: str, churn: float, clusters: int,
        agent_port: int, agent_port_base: int | None, tls_dir: str | None, max_frame: int, control_token: str | None,
        tick_seconds: float, postcopy_share: float, legacy_hosts: int, render_cache: bool, register: bool) -> None:
    """Serve HOSTS simulated VDSM hosts, each at its own stomp://ADDRESS:PORT (stomps:// with --tls-dir),
    with a control API at http://BIND:PORT/control/."""
    if not is_loopback(bind) and not control_token:
        raise click.UsageError("--control-token is required when --bind is not a loopback address")
    if agent_port_base is not None and agent_port_base + hosts - 1 > 65535:
        raise click.UsageError(f"--agent-port-base {agent_port_base} leaves no port for host {hosts}")
    config = SimConfig(hosts=hosts, vms_per_host=vms_per_host, seed=seed, port=port, bind=bind, churn=churn,
                       clusters=clusters, control_token=control_token, tick_seconds=tick_seconds,
                       postcopy_share=postcopy_share, legacy_hosts=legacy_hosts, render_cache=render_cache,
                       agent_port=agent_port, agent_port_base=agent_port_base, tls_dir=tls_dir, max_frame=max_frame)

    def ready(line: str) -> None:
        print(line, flush=True)
        if register:
            threading.Thread(target=_register, args=(bind, port, control_token), daemon=True).start()

    try:
        asyncio.run(serve(config, ready))
    except OSError as exc:
        click.echo(f"vurti sim: cannot listen: {exc}", err=True)
        sys.exit(1)


def _register(bind: str, port: int, token: str | None) -> None:
    """Runs beside the server: the control API it reads is served by the same process."""
    from vurti.bootstrap import services
    from vurti.sim.registration import register_fleet

    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
    try:
        added = register_fleet(services(), f"http://{host}:{port}", token)
    except Exception as exc:  # noqa: BLE001 - the fleet keeps serving; say why registration failed
        print(f"vurti sim: registration failed: {exc}", file=sys.stderr, flush=True)
        return
    print(f"registered {added} hosts in vurti's database", flush=True)
