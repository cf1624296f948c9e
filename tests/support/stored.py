"""Reading what vurti stored, for end-to-end tests that wait on it."""

from __future__ import annotations

from typing import Any

from vurti.domain.status import HostStatus, VmStatus


def vm_status(svc: Any, vm_id: str) -> VmStatus | None:
    with svc.uow() as uow:
        vm = uow.vms.get_vm(vm_id)
    return vm.status if vm is not None else None


def host_up(svc: Any, host_id: str) -> bool:
    with svc.uow() as uow:
        state = uow.hosts.get_host_state(host_id)
    return state is not None and state.status is HostStatus.Up
