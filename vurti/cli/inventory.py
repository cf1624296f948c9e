"""`vurti hosts`, `vurti vms`, `vurti host add|remove|maintenance|activate`, `vurti clusters`, `vurti cluster set`."""

from __future__ import annotations

import click

from vurti.cli.common import CliError, emit, get_services, host_id_option
from vurti.domain.admin import AdminAction
from vurti.inventory import InventoryError, MemoryThreshold, NewHost, add_hosts, remove_host, set_cluster

DEFAULT_CLUSTER = "default"  # created on first use; any other cluster must exist or be asked for


@click.command("hosts")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def hosts(as_json: bool) -> None:
    """List hosts with their status."""
    svc = get_services()
    with svc.uow() as uow:
        cluster_names = {c.id: c.name for c in uow.hosts.list_clusters()}
        rows = [
            {
                "id": config.id,
                "name": config.name,
                "cluster": cluster_names.get(config.cluster_id, config.cluster_id),
                "cluster_id": config.cluster_id,
                "status": state.status.name,
                "reason": state.status_reason,
                "vms": state.vm_count,
                "address": config.url,
            }
            for config, state in uow.hosts.list_hosts()
        ]
    emit(rows, ["name", "status", "vms", "cluster", "reason", "address"], as_json, "Hosts")


@click.command("vms")
@click.option("--host", "host", default=None, help="Only VMs running on this host (name or id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vms(host: str | None, as_json: bool) -> None:
    """List VMs with their status and host."""
    svc = get_services()
    host_id = host_id_option(svc, host)
    with svc.uow() as uow:
        host_names = {config.id: config.name for config, _ in uow.hosts.list_hosts()}
        rows = [
            {
                "id": vm.vm_id,
                "name": vm.name,
                "status": vm.status.name,
                "host": host_names.get(vm.host_id, vm.host_id) if vm.host_id else None,
                "host_id": vm.host_id,
                "managed": vm.managed,
                "ha": vm.auto_start,
                "lease": vm.lease_sd_id,
                "exit_code": vm.exit_code,
                "exit_reason": vm.exit_reason,
                "exit_message": vm.exit_message,
            }
            for vm in uow.vms.list_vms(host_id)
        ]
    emit(rows, ["name", "status", "host", "managed", "ha", "exit_code", "exit_message"], as_json, "VMs")


@click.group("host")
def host() -> None:
    """Add or remove monitored hosts; move them in and out of maintenance."""


def _administer(name: str, action: AdminAction) -> None:
    from vurti.analyze.maintenance import RequestRefused
    from vurti.runtime.locking import LockBusy

    svc = get_services()
    found = svc.resolve_host(name)
    if found is None:
        raise CliError(f"no such host: {name}")
    try:
        outcome = svc.update.administer(found.id, action)
    except RequestRefused as exc:
        raise CliError(str(exc)) from None
    except LockBusy:
        raise CliError(f"host {found.name} is being updated; try again") from None
    if not outcome.applied:
        raise CliError(f"{found.name}: {outcome.reason}")
    for line in outcome.changes:
        click.echo(line)
    click.echo(f"host {found.name}: {outcome.status}")


@host.command("maintenance")
@click.argument("name")
def host_maintenance(name: str) -> None:
    """Move host NAME towards Maintenance: PreparingForMaintenance until no VM is left on it."""
    _administer(name, AdminAction.MAINTENANCE)


@host.command("activate")
@click.argument("name")
def host_activate(name: str) -> None:
    """Take host NAME out of maintenance: checked again (capabilities, cluster) before Up."""
    _administer(name, AdminAction.ACTIVATE)


@host.command("add")
@click.argument("name")
@click.argument("address")
@click.option("--cluster", default=DEFAULT_CLUSTER, show_default=True,
              help="Cluster name; it must exist (`vurti cluster set NAME`) unless it is the default.")
@click.option("--create-cluster", is_flag=True, help="Create the cluster if it does not exist.")
@click.option("--spm", is_flag=True, help="The host is the storage pool manager (longer grace period).")
def host_add(name: str, address: str, cluster: str, create_cluster: bool, spm: bool) -> None:
    """Monitor VDSM at ADDRESS as host NAME; polled from the next beat tick.

    ADDRESS is VDSM's host name or IP, with :PORT when not 54321; TLS unless
    written stomp://HOST:PORT (plain TCP, for labs).
    """
    if not name.strip():
        raise CliError("the host name must not be empty")
    if not cluster.strip():
        raise CliError("the cluster name must not be empty")
    svc = get_services()
    if cluster != DEFAULT_CLUSTER and not create_cluster:
        with svc.uow() as uow:
            if uow.hosts.get_cluster_by_name(cluster) is None:
                # A typo would otherwise make a cluster without requirements: its hosts go Up unchecked.
                raise CliError(f"no such cluster: {cluster} (create it with `vurti cluster set {cluster}` "
                               "or add --create-cluster)")
    try:
        (config,) = add_hosts(svc, [NewHost(name, address, cluster, spm)])
    except InventoryError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"added host {name} ({config.id}) at {config.url} in cluster {cluster}")


@host.command("remove")
@click.argument("name")
def host_remove(name: str) -> None:
    """Stop monitoring host NAME (name or id)."""
    try:
        found = remove_host(get_services(), name)
    except InventoryError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"removed host {found.name}")


@click.command("clusters")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def clusters(as_json: bool) -> None:
    """List clusters with their poll interval and the checks their hosts must pass."""
    with get_services().uow() as uow:
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "refresh_interval": c.refresh_interval,
                "push_interval": c.push_interval,
                "required_cpu_flags": ",".join(c.required_cpu_flags),
                "required_networks": ",".join(c.required_networks),
                "required_rng_sources": ",".join(c.required_rng_sources),
                "memory_threshold": _memory_threshold(c.max_memory_used_percent, c.min_free_memory_mb),
            }
            for c in uow.hosts.list_clusters()
        ]
    emit(rows, ["name", "refresh_interval", "push_interval", "required_cpu_flags", "required_networks",
                "memory_threshold"], as_json, "Clusters")


def _memory_threshold(percent: float | None, free_mb: int | None) -> str:
    if free_mb is not None:
        return f"free < {free_mb} MB"
    return f"used > {percent:g}%" if percent is not None else "system default"


@click.group("cluster")
def cluster() -> None:
    """Create or configure clusters."""


def _parse_memory_threshold(value: str | None) -> MemoryThreshold | None:
    if value is None:
        return None
    text = value.strip().lower()
    try:
        if text == "default":
            return MemoryThreshold()
        if text.endswith("mb"):
            return MemoryThreshold(free_mb=int(text[:-2]))
        return MemoryThreshold(percent=float(text.rstrip("%")))
    except ValueError:
        raise CliError(f"--memory-threshold: {value!r} is neither a percentage nor NMB") from None


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


@cluster.command("set")
@click.argument("name")
@click.option("--interval", type=float, default=None, help="Seconds between polls of each host of the cluster.")
@click.option("--cpu-flags", default=None, help="Comma-separated CPU flags every host must have.")
@click.option("--networks", default=None, help="Comma-separated networks every host must have.")
@click.option("--push-interval", type=float, default=None,
              help="Seconds between safety-net polls of a host while its events flow (default 15).")
@click.option("--rng-sources", default=None, help="Comma-separated RNG sources every host must offer (e.g. hwrng).")
@click.option("--memory-threshold", default=None,
              help="Alert on memory: PERCENT used (e.g. 90), or NMB free (e.g. 2048MB); 'default': the system's.")
def cluster_set(name: str, interval: float | None, cpu_flags: str | None, networks: str | None,
                push_interval: float | None, rng_sources: str | None, memory_threshold: str | None) -> None:
    """Create cluster NAME, or change the given settings of it."""
    try:
        found = set_cluster(get_services(), name, interval, _csv(cpu_flags), _csv(networks), push_interval,
                            _csv(rng_sources), _parse_memory_threshold(memory_threshold))
    except InventoryError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"cluster {found.name}: interval {found.refresh_interval}s, push interval {found.push_interval}s, "
               f"cpu flags [{','.join(found.required_cpu_flags)}], networks [{','.join(found.required_networks)}]")
