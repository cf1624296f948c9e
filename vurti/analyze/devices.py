"""A VM's device list, read again because its device hash changed.

oVirt: VmDevicesMonitoring.processVmDevices / handleRemovedDevices. A reported
device is matched to the stored one by its id (the engine's deviceId; for an
unmanaged device an id the parser derives from its type, device and alias), and
takes the reported address and alias, plugged. A stored device missing from the
list: a managed one is kept, unplugged with its address cleared (a balloon is never
unplugged: it is not hot-pluggable); an unmanaged one is removed. oVirt mints a
new id for every unmanaged device on each refresh; the derived id keeps one row
per device instead, so a refresh that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import replace

from vurti.analyze._work import Work
from vurti.domain.devices import NOT_PLUGGABLE, VmDevice
from vurti.domain.events import VmDevicePlugged, VmDeviceUnplugged
from vurti.domain.model import VmState


def refresh_devices(work: Work, vm: VmState, reported: tuple[VmDevice, ...], stored: tuple[VmDevice, ...]) -> None:
    """Record in `work` the device rows to save or remove, and the plug events."""
    known = {d.device_id: d for d in stored}
    seen: set[str] = set()
    for device in reported:
        seen.add(device.device_id)
        before = known.get(device.device_id)
        # A managed device stays managed (oVirt keeps the engine's row and updates it).
        new = device if before is None else replace(device, managed=before.managed or device.managed)
        if new == before:
            continue
        work.devices_saved.append((vm.vm_id, new))
        if before is None or not before.plugged:
            _event(work, VmDevicePlugged, vm, new)
    for device in stored:
        if device.device_id in seen:
            continue
        if not device.managed:
            work.devices_removed.append((vm.vm_id, device.device_id))
            _event(work, VmDeviceUnplugged, vm, device, removed=True)
        elif device.plugged and device.type not in NOT_PLUGGABLE:
            work.devices_saved.append((vm.vm_id, replace(device, plugged=False, address="")))
            _event(work, VmDeviceUnplugged, vm, device)


def _event(work: Work, cls: type[VmDevicePlugged | VmDeviceUnplugged], vm: VmState, device: VmDevice,
           **extra: bool) -> None:
    work.emit(cls, vm_id=vm.vm_id, vm_name=vm.name, device_id=device.device_id, device_type=device.type,
              device=device.device, alias=device.alias, **extra)
