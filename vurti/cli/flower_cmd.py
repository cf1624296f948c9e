"""`vurti flower`: Celery's Flower for vurti's tasks, never without a login."""

from __future__ import annotations

import os
import sys

import click

from vurti.cli.common import get_services

# Flower's task list with the arguments (host names, from each task's argsrepr) up front.
TASKS_COLUMNS = "name,args,state,received,runtime,worker,uuid"


@click.command("flower")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=5555, show_default=True, type=click.IntRange(1, 65535))
def flower(bind: str, port: int) -> None:
    """Run Flower with basic auth from VURTI_FLOWER_AUTH (user:password); its API needs the same login."""
    auth = get_services().settings.ops.flower_auth
    if not auth:
        raise click.ClickException("VURTI_FLOWER_AUTH (user:password) is not set: Flower never runs without a login")
    # Flower reads FLOWER_* from its environment: the password is never on a command line.
    env = {**os.environ, "FLOWER_BASIC_AUTH": auth}
    argv = [sys.executable, "-m", "celery", "-A", "tasks", "flower", f"--address={bind}", f"--port={port}",
            f"--tasks_columns={TASKS_COLUMNS}"]
    os.execve(sys.executable, argv, env)
