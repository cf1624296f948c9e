"""Adding and removing monitored hosts: one place for the CLI, `vurti run` and `vurti sim --register`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from vurti.agent.address import AddressError, parse_address
from vurti.domain.model import Cluster, HostConfig


@dataclass(frozen=True)
class NewHost:
    name: str
    url: str  # the agent's address: `host`, `host:port`, `stomps://host:port` or `stomp://host:port`
    cluster: str = "default"
    is_spm: bool = False


class InventoryError(ValueError):
    """A host that cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class MemoryThreshold:
    """A cluster's memory alert (oVirt's log_max_memory_used_threshold and its type): used percent,
    or free MB; neither: the system's percentage."""

    percent: float | None = None
    free_mb: int | None = None

    def check(self) -> None:
        if self.percent is not None and self.free_mb is not None:
            raise InventoryError("a memory threshold is a percentage or free MB, not both")
        if self.percent is not None and not 0 < self.percent <= 100:
            raise InventoryError("the memory threshold must be a percentage in (0, 100]")
        if self.free_mb is not None and self.free_mb < 0:
            raise InventoryError("the free memory threshold must not be negative")


def set_cluster(
    svc: Any,
    name: str,
    refresh_interval: float | None = None,
    required_cpu_flags: tuple[str, ...] | None = None,
    required_networks: tuple[str, ...] | None = None,
    push_interval: float | None = None,
    required_rng_sources: tuple[str, ...] | None = None,
    memory_threshold: MemoryThreshold | None = None,
) -> Cluster:
    """Create a cluster or change what is given; beat applies a new interval within seconds."""
    if memory_threshold is not None:
        memory_threshold.check()
    if refresh_interval is not None and not 0.1 <= refresh_interval <= 3600:
        raise InventoryError("refresh interval must be between 0.1 and 3600 seconds")
    if push_interval is not None and not 0.1 <= push_interval <= 3600:
        raise InventoryError("push interval must be between 0.1 and 3600 seconds")
    with svc.uow() as uow:
        found = uow.hosts.get_cluster_by_name(name)
        base = found or new_cluster(svc, name)
        changes: dict[str, Any] = {}
        if refresh_interval is not None:
            changes["refresh_interval"] = refresh_interval
        if push_interval is not None:
            changes["push_interval"] = push_interval
        if required_cpu_flags is not None:
            changes["required_cpu_flags"] = required_cpu_flags
        if required_networks is not None:
            changes["required_networks"] = required_networks
        if required_rng_sources is not None:
            changes["required_rng_sources"] = required_rng_sources
        if memory_threshold is not None:
            changes["max_memory_used_percent"] = memory_threshold.percent
            changes["min_free_memory_mb"] = memory_threshold.free_mb
        cluster = replace(base, **changes)
        if found is None:
            uow.hosts.add_cluster(cluster)
        else:
            uow.hosts.save_cluster(cluster)
        uow.commit()
    return cluster


def new_cluster(svc: Any, name: str) -> Cluster:
    """A cluster with the system's default intervals."""
    policy = svc.settings.policy
    return Cluster(id=cluster_id(name), name=name, refresh_interval=policy.refresh_interval,
                   push_interval=policy.push_interval)


def cluster_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"cluster.{name}.vurti"))


def add_hosts(svc: Any, hosts: Iterable[NewHost], skip_existing: bool = False) -> list[HostConfig]:
    """Store the hosts, then schedule them at once (beat would also find them within one interval).

    With `skip_existing` a host already known by name is kept, with its id and
    history; only its agent address follows the one given (a simulator started
    again, a host that moved).
    """
    added: list[tuple[HostConfig, float]] = []
    moved: list[HostConfig] = []
    with svc.uow() as uow:
        clusters: dict[str, Cluster] = {}
        owners = {config.url: config.name for config, _ in uow.hosts.list_hosts()}
        for new in hosts:
            if not new.name.strip():
                raise InventoryError("a host name must not be empty")
            try:
                url = str(parse_address(new.url))
            except AddressError as exc:
                raise InventoryError(f"{new.name}: {exc}") from None
            owner = owners.get(url)
            if owner is not None and owner != new.name:
                raise InventoryError(f"{new.name}: {url} is already the address of host {owner!r}")
            owners[url] = new.name
            existing = uow.hosts.get_host_by_name(new.name)
            if existing is not None:
                if not skip_existing:
                    raise InventoryError(f"a host named {new.name!r} already exists")
                if existing.url != url:
                    uow.hosts.set_host_url(existing.id, url)
                    moved.append(replace(existing, url=url))
                continue
            if not isinstance(new.cluster, str) or not new.cluster:
                raise InventoryError(f"{new.name}: cluster must be a non-empty name")
            cluster = clusters.get(new.cluster) or uow.hosts.get_cluster_by_name(new.cluster)
            if cluster is None:
                cluster = new_cluster(svc, new.cluster)
                uow.hosts.add_cluster(cluster)
            clusters[new.cluster] = cluster
            config = HostConfig(str(uuid.uuid4()), new.name, cluster.id, url, new.is_spm)
            uow.hosts.add_host(config)
            added.append((config, cluster.refresh_interval))
        uow.commit()
    for config in moved:
        svc.cache.put_host(config.id, config.url)
    now = time.time()
    for config, interval in added:
        svc.cache.put_host(config.id, config.url)
        svc.schedule.add(config.id, interval, now)
    return [c for c, _ in added]


def remove_host(svc: Any, name_or_id: str) -> HostConfig:
    found = svc.resolve_host(name_or_id)
    if found is None:
        raise InventoryError(f"no such host: {name_or_id}")
    from vurti.store.errors import StoreError

    with svc.uow() as uow:
        try:
            uow.hosts.remove_host(found.id)
        except StoreError as exc:
            raise InventoryError(f"cannot remove {found.name}: {exc}") from None
        uow.commit()
    svc.schedule.remove(found.id)
    svc.cache.forget(found.id)
    return found
