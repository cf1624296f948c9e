"""What the engine tells vurti: VM configuration (highly available, lease) and the runs and
migrations it started, which the monitor then confirms or reports failed.

The service checks and stores; the analyzer settles (vurti/analyze/operations.py). Used by
the CLI (`vurti vm set`, `vurti vm expect`) and the `vurti.expect_operation` task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from vurti.domain.model import OperationKind, PendingOperation, VmState
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.status import RUNNING_VM_STATUSES, VmStatus


class OperationError(ValueError):
    """A request that cannot be taken: unknown VM or host, or one that makes no sense."""


@dataclass(frozen=True)
class Expected:
    """A registered operation, with the names people read."""

    operation: PendingOperation
    vm_name: str
    host_name: str
    destination_name: str | None

    def to_json(self) -> dict[str, Any]:
        op = self.operation
        return {"vm_id": op.vm_id, "vm": self.vm_name, "kind": str(op.kind), "host_id": op.host_id,
                "host": self.host_name, "destination_host_id": op.destination_host_id,
                "destination": self.destination_name, "started_at": op.started_at, "deadline": op.deadline}


class EngineOperations:
    def __init__(self, uow_factory: Callable[[], Any], policy: MonitoringPolicy, clock: Callable[[], float]) -> None:
        self._uow_factory = uow_factory
        self._policy = policy
        self._clock = clock

    def set_vm(self, vm: str, ha: bool | None = None, lease_sd_id: str | None = None,
               clear_lease: bool = False) -> VmState:
        """Mark a VM highly available (or not: `ha`), set its lease's storage domain or clear it;
        what is not given stays as it is."""
        if lease_sd_id is not None and (clear_lease or not lease_sd_id.strip()):
            raise OperationError("a lease needs its storage domain id (or clear it)")
        with self._uow_factory() as uow:
            found = _one_vm(uow, vm)
            auto_start = found.auto_start if ha is None else ha
            lease = None if clear_lease else (lease_sd_id or found.lease_sd_id)
            uow.vms.set_config(found.vm_id, auto_start, lease)
            uow.commit()
        return replace(found, auto_start=auto_start, lease_sd_id=lease)

    def expect_run(self, vm: str, host: str, timeout: float | None = None) -> Expected:
        """The engine started `vm` on `host`: confirmed once the host reports it Up or PoweringUp."""
        with self._uow_factory() as uow:
            found = _one_vm(uow, vm)
            target = _host(uow, host)
            # Unknown on a lost host is restartable elsewhere (its lease, or the host fenced).
            if (found.status in RUNNING_VM_STATUSES and found.status != VmStatus.Unknown
                    and found.host_id not in (None, target.id)):
                raise OperationError(f"VM {found.name or found.vm_id} runs on another host ({found.status.name})")
            op = self._register(uow, found, OperationKind.RUN, target.id, None,
                                self._policy.run_timeout if timeout is None else timeout)
            return Expected(op, found.name, target.name, None)

    def expect_migrate(self, vm: str, to: str | None, timeout: float | None = None) -> Expected:
        """The engine started migrating `vm` from the host it runs on (to `to`, or any host)."""
        with self._uow_factory() as uow:
            found = _one_vm(uow, vm)
            if found.host_id is None or found.status not in RUNNING_VM_STATUSES or found.status == VmStatus.Unknown:
                raise OperationError(f"VM {found.name or found.vm_id} is not running ({found.status.name}): "
                                     "nothing to migrate")
            source = uow.hosts.get_host(found.host_id)
            destination = _host(uow, to) if to is not None else None
            if destination is not None and destination.id == found.host_id:
                raise OperationError(f"VM {found.name or found.vm_id} already runs on host {destination.name}")
            op = self._register(uow, found, OperationKind.MIGRATE, found.host_id,
                                destination.id if destination else None,
                                self._policy.migrate_timeout if timeout is None else timeout)
            return Expected(op, found.name, source.name if source else found.host_id,
                            destination.name if destination else None)

    def expect(self, kind: str, vm: str, host: str | None = None, to: str | None = None,
               timeout: float | None = None) -> Expected:
        """`expect_run` or `expect_migrate` by name: what a message (the expect_operation task) asks."""
        if kind == OperationKind.RUN:
            if host is None:
                raise OperationError("a run needs the host it was started on")
            return self.expect_run(vm, host, timeout)
        if kind == OperationKind.MIGRATE:
            return self.expect_migrate(vm, to, timeout)
        raise OperationError(f"unknown operation {kind!r}: run or migrate")

    def pending(self) -> list[PendingOperation]:
        with self._uow_factory() as uow:
            return list(uow.operations.all())

    def _register(self, uow: Any, vm: VmState, kind: OperationKind, host_id: str, destination: str | None,
                  timeout: float) -> PendingOperation:
        if not timeout > 0:
            raise OperationError(f"timeout must be positive, not {timeout}")
        now = self._clock()
        op = PendingOperation(vm.vm_id, kind, host_id, now, now + timeout, destination)
        uow.operations.expect(op)
        uow.commit()
        return op


def _one_vm(uow: Any, name_or_id: str) -> VmState:
    found = uow.vms.find(name_or_id)
    if not found:
        raise OperationError(f"no such VM: {name_or_id}")
    if len(found) > 1:
        raise OperationError(f"{len(found)} VMs are named {name_or_id}: give its id")
    vm: VmState = found[0]
    return vm


def _host(uow: Any, name_or_id: str) -> Any:
    found = uow.hosts.get_host(name_or_id) or uow.hosts.get_host_by_name(name_or_id)
    if found is None:
        raise OperationError(f"no such host: {name_or_id}")
    return found
