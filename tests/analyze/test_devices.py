"""A VM's device list read again after its hash changed (VmDevicesMonitoring), table-driven."""

from __future__ import annotations

import pytest

from tests.analyze.builders import names, report, run, snapshot, up, vm
from vurti.domain.devices import VmDevice
from vurti.domain.events import VmDevicePlugged, VmDeviceUnplugged
from vurti.domain.model import replace
from vurti.domain.status import VmStatus

DISK = VmDevice("d1", "disk", "disk", '{"unit":"0"}', "ua-d1", managed=True)
NIC = VmDevice("n1", "interface", "bridge", '{"slot":"0x03"}', "ua-n1", managed=True)
BALLOON = VmDevice("b1", "balloon", "memballoon", '{"slot":"0x08"}', "balloon0", managed=True)
SERIAL = VmDevice("s1", "controller", "virtio-serial", '{"slot":"0x09"}', "virtio-serial0")  # unmanaged
HOTPLUGGED = VmDevice("d2", "disk", "disk", '{"unit":"10"}', "ua-d2", managed=True)


def unplugged(d: VmDevice) -> VmDevice:
    return replace(d, plugged=False, address="")


CASES = [
    # name, stored devices, reported devices, saved rows, removed ids, events
    ("first read: every device stored", (), (DISK, SERIAL), (DISK, SERIAL), (),
     ["VmDevicePlugged", "VmDevicePlugged"]),
    ("same list: nothing written", (DISK, SERIAL), (DISK, SERIAL), (), (), []),
    ("hot-plugged disk", (DISK,), (DISK, HOTPLUGGED), (HOTPLUGGED,), (), ["VmDevicePlugged"]),
    ("managed device gone: kept, unplugged", (DISK, NIC), (DISK,), (unplugged(NIC),), (), ["VmDeviceUnplugged"]),
    ("unmanaged device gone: removed", (DISK, SERIAL), (DISK,), (), ("s1",), ["VmDeviceUnplugged"]),
    ("balloon is never unplugged", (DISK, BALLOON), (DISK,), (), (), []),
    ("already unplugged: left alone", (DISK, unplugged(NIC)), (DISK,), (), (), []),
    ("plugged again", (DISK, unplugged(NIC)), (DISK, NIC), (NIC,), (), ["VmDevicePlugged"]),
    ("address changed: updated, no event", (DISK,), (replace(DISK, address='{"unit":"1"}'),),
     (replace(DISK, address='{"unit":"1"}'),), (), []),
    ("managed row stays managed", (DISK,), (replace(DISK, managed=False, alias="x"),),
     (replace(DISK, alias="x"),), (), []),
]


@pytest.mark.parametrize("stored, reported, saved, removed, events", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_device_refresh(stored, reported, saved, removed, events):
    snap = replace(snapshot(vms=(vm(),)), devices={"v1": stored})
    analysis = run(snap, report((up(devices=reported),)))
    assert analysis.devices_saved == tuple(("v1", d) for d in saved)
    assert analysis.devices_removed == tuple(("v1", d) for d in removed)
    assert sorted(names(analysis)) == sorted(events)


def test_events_name_the_device():
    snap = replace(snapshot(vms=(vm(name="web"),)), devices={"v1": (DISK, SERIAL)})
    analysis = run(snap, report((up(devices=(DISK, HOTPLUGGED)),)))
    plugged = [e for e in analysis.events if isinstance(e, VmDevicePlugged)]
    gone = [e for e in analysis.events if isinstance(e, VmDeviceUnplugged)]
    assert [(e.vm_name, e.device_id, e.device_type) for e in plugged] == [("web", "d2", "disk")]
    assert [(e.device_id, e.removed) for e in gone] == [("s1", True)]
    assert "web" in plugged[0].describe() and "plugged" in plugged[0].describe()


def test_devices_not_read_change_nothing():
    """No devices in the report (hash unchanged, or not read): stored devices are not touched."""
    snap = replace(snapshot(vms=(vm(),)), devices={"v1": (DISK,)})
    analysis = run(snap, report((up(),)))
    assert analysis.devices_saved == () and analysis.devices_removed == ()


def test_devices_of_a_vm_reported_down_are_ignored():
    snap = replace(snapshot(vms=(vm(),)), devices={"v1": (DISK,)})
    analysis = run(snap, report((up(status=VmStatus.Down, exit_code=0, exit_reason=0, devices=()),)))
    assert analysis.devices_saved == () and analysis.devices_removed == ()


def test_devices_of_a_new_external_vm_are_stored_with_it():
    analysis = run(snapshot(), report((up("x1", devices=(DISK,)),)))
    assert [v.vm_id for v in analysis.vms] == ["x1"]
    assert analysis.devices_saved == (("x1", DISK),)
    assert not analysis.is_empty
