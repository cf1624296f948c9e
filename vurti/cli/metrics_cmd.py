"""`vurti metrics`: serve Prometheus metrics until stopped."""

from __future__ import annotations

import contextlib
import signal
import threading

import click

from vurti.cli.common import get_services


@click.command("metrics")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="[default: VURTI_METRICS_PORT, 9108]")
def metrics(bind: str, port: int | None) -> None:
    """Serve the fleet's state and this machine's worker metrics at /metrics."""
    from vurti.metrics.exporter import serve

    svc = get_services()
    port = port or svc.settings.ops.metrics_port
    server = serve(svc, bind, port)
    click.echo(f"metrics on http://{bind}:{port}/metrics", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
