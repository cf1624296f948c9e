"""`vurti vm set|expect|pending`: a VM's configuration and the engine-started operations to confirm."""

from __future__ import annotations

import click

from vurti.cli.common import CliError, emit, get_services
from vurti.operations import OperationError


@click.group("vm")
def vm() -> None:
    """Configure a VM; tell vurti of the runs and migrations the engine started."""


@vm.command("set")
@click.argument("name")
@click.option("--ha/--no-ha", default=None, help="Highly available: an error exit raises a restart request.")
@click.option("--lease", default=None, metavar="SD_ID",
              help="Storage domain of the VM's lease: restartable elsewhere when its host is lost.")
@click.option("--no-lease", is_flag=True, help="The VM has no lease.")
def vm_set(name: str, ha: bool | None, lease: str | None, no_lease: bool) -> None:
    """Change the configuration of VM NAME (name or id)."""
    if lease is not None and no_lease:
        raise CliError("--lease and --no-lease exclude each other")
    if ha is None and lease is None and not no_lease:
        raise CliError("nothing to set: give --ha/--no-ha, --lease or --no-lease")
    try:
        found = get_services().operations.set_vm(name, ha, lease, clear_lease=no_lease)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"VM {found.name or found.vm_id}: highly available {'yes' if found.auto_start else 'no'}, "
               f"lease {found.lease_sd_id or 'none'}")


@vm.group("expect")
def expect() -> None:
    """The engine started an operation: confirm it, or raise a rerun request when it fails."""


@expect.command("run")
@click.argument("name")
@click.option("--host", required=True, help="The host the VM was started on (name or id).")
@click.option("--timeout", type=float, default=None, help="Seconds before it counts as failed (VURTI_RUN_TIMEOUT).")
def expect_run(name: str, host: str, timeout: float | None) -> None:
    """VM NAME was started on --host."""
    try:
        expected = get_services().operations.expect_run(name, host, timeout)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    op = expected.operation
    click.echo(f"expecting VM {expected.vm_name or op.vm_id} to run on host {expected.host_name} "
               f"within {op.deadline - op.started_at:g} s")


@expect.command("migrate")
@click.argument("name")
@click.option("--to", "to", default=None, help="The destination host (name or id); any host if not given.")
@click.option("--timeout", type=float, default=None,
              help="Seconds before it counts as failed (VURTI_MIGRATE_TIMEOUT).")
def expect_migrate(name: str, to: str | None, timeout: float | None) -> None:
    """VM NAME is being migrated from the host it runs on."""
    try:
        expected = get_services().operations.expect_migrate(name, to, timeout)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    op = expected.operation
    click.echo(f"expecting VM {expected.vm_name or op.vm_id} to migrate from host {expected.host_name} to "
               f"{'host ' + expected.destination_name if expected.destination_name else 'another host'} "
               f"within {op.deadline - op.started_at:g} s")


@vm.command("pending")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pending(as_json: bool) -> None:
    """Engine-started operations not settled yet."""
    svc = get_services()
    ops = svc.operations.pending()
    with svc.uow() as uow:
        hosts = {config.id: config.name for config, _ in uow.hosts.list_hosts()}
        names = uow.vms.names([op.vm_id for op in ops])
    rows = [{"vm_id": op.vm_id, "vm": names.get(op.vm_id, op.vm_id), "kind": str(op.kind),
             "host": hosts.get(op.host_id, op.host_id),
             "destination": hosts.get(op.destination_host_id, op.destination_host_id) if op.destination_host_id
             else None, "started_at": op.started_at, "deadline": op.deadline} for op in ops]
    emit(rows, ["vm", "kind", "host", "destination", "deadline"], as_json, "Pending operations")
