"""Entry point of the `vurti` command: a click group; each command lives in its own module."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="vurti")
def cli() -> None:
    """vurti: monitoring of hypervisor hosts and their VMs."""


def _register() -> None:
    from vurti.cli import sim_cmd

    cli.add_command(sim_cmd.sim)


def main() -> None:
    _register()
    cli()
