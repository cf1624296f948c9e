"""`vurti hosts`, `vurti vms`, `vurti host add|remove`, `vurti cluster add`."""

from __future__ import annotations

import time
import uuid

import click

from vurti.cli.common import emit, get_services
from vurti.domain.model import Cluster, HostConfig


@click.command("hosts")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def hosts(as_json: bool) -> None:
    """List hosts with their status."""
    svc = get_services()
    with svc.uow() as uow:
        rows = [
            {
                "id": config.id,
                "name": config.name,
                "cluster": config.cluster_id,
                "status": state.status.name,
                "reason": state.status_reason,
                "vms": state.vm_count,
                "url": config.url,
            }
            for config, state in uow.hosts.list_hosts()
        ]
    emit(rows, ["name", "status", "vms", "cluster", "reason", "url"], as_json, "Hosts")


@click.command("vms")
@click.option("--host", "host", default=None, help="Only VMs running on this host (name or id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vms(host: str | None, as_json: bool) -> None:
    """List VMs with their status and host."""
    svc = get_services()
    host_id = None
    if host is not None:
        found = svc.resolve_host(host)
        if found is None:
            raise click.ClickException(f"no such host: {host}")
        host_id = found.id
    with svc.uow() as uow:
        rows = [
            {
                "id": vm.vm_id,
                "name": vm.name,
                "status": vm.status.name,
                "host": vm.host_id,
                "managed": vm.managed,
                "exit_code": vm.exit_code,
                "exit_reason": vm.exit_reason,
                "exit_message": vm.exit_message,
            }
            for vm in uow.vms.list_vms(host_id)
        ]
    emit(rows, ["name", "status", "host", "managed", "exit_code", "exit_message"], as_json, "VMs")


@click.group("host")
def host() -> None:
    """Add or remove monitored hosts."""


@host.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--cluster", default="default", show_default=True, help="Cluster name (created if missing).")
@click.option("--spm", is_flag=True, help="The host is the storage pool manager (longer grace period).")
def host_add(name: str, url: str, cluster: str, spm: bool) -> None:
    """Monitor the agent at URL as host NAME; picked up by beat within one interval."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="URL")
    svc = get_services()
    with svc.uow() as uow:
        if uow.hosts.get_host_by_name(name) is not None:
            raise click.ClickException(f"a host named {name!r} already exists")
        found = uow.hosts.get_cluster_by_name(cluster)
        if found is None:
            found = Cluster(id=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"cluster.{cluster}")), name=cluster)
            uow.hosts.add_cluster(found)
        config = HostConfig(str(uuid.uuid5(uuid.NAMESPACE_URL, url)), name, found.id, url.rstrip("/") + "/", spm)
        uow.hosts.add_host(config)
        uow.commit()
    svc.cache.put_host(config.id, config.url)
    svc.schedule.add(config.id, found.refresh_interval, time.time())
    click.echo(f"added host {name} ({config.id}) in cluster {cluster}")


@host.command("remove")
@click.argument("name")
def host_remove(name: str) -> None:
    """Stop monitoring host NAME (name or id)."""
    svc = get_services()
    found = svc.resolve_host(name)
    if found is None:
        raise click.ClickException(f"no such host: {name}")
    with svc.uow() as uow:
        uow.hosts.remove_host(found.id)
        uow.commit()
    svc.schedule.remove(found.id)
    svc.cache.forget(found.id)
    click.echo(f"removed host {found.name}")
