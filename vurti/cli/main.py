"""Entry point of the `vurti` command: a click group; each command lives in its own module."""

from __future__ import annotations

import logging

import click


@click.group()
@click.version_option(package_name="vurti")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """vurti: monitoring of hypervisor hosts and their VMs."""
    level = logging.WARNING - 10 * min(verbose, 2)
    from vurti.config import ConfigError, Settings
    from vurti.logs import TEXT_FORMAT, configure, secrets_of

    try:
        settings = Settings.from_env()
    except ConfigError:  # the command itself reports it; log plainly meanwhile
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return
    configure(settings.ops.log_format, level, secrets_of(settings))


def _register() -> None:
    from vurti.cli import bench_cmd, doctor, flower_cmd, inventory, metrics_cmd, ops, run_cmd, sim_cmd, vm_cmd

    for command in (
        inventory.hosts,
        inventory.vms,
        vm_cmd.vm,
        inventory.host,
        inventory.clusters,
        inventory.cluster,
        ops.refresh,
        ops.events,
        ops.db,
        run_cmd.run,
        sim_cmd.sim,
        bench_cmd.bench,
        metrics_cmd.metrics,
        doctor.doctor,
        flower_cmd.flower,
    ):
        cli.add_command(command)


def main() -> None:
    _register()
    try:
        cli()
    except Exception as exc:  # the database or Redis unreachable: one line, not a traceback
        from redis.exceptions import RedisError
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError | RedisError):
            raise
        from vurti.config import redact_url

        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(f"Error: {type(exc).__name__}: {redact_url(text)}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
