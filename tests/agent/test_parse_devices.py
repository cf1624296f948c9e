"""vmJobs and Host.getVMFullList devices as VDSM sends them; bad entries are per-VM problems."""

from __future__ import annotations

import pytest

from vurti.agent import InvalidData, parse_vm_stats
from vurti.agent.parse_devices import parse_vm_devices
from vurti.domain.devices import VmJob

JOB = {"id": "j1", "jobType": "block", "blockJobType": "commit", "cur": "524288", "end": "1048576",
       "bandwidth": 0, "imgUUID": "img-1"}


def _vm(**extra):
    return {"vmId": "v1", "status": "Up", "statusTime": "2147483999", **extra}


def test_vm_jobs_as_the_wire_sends_them():
    warnings: list[str] = []
    [vm] = parse_vm_stats([_vm(vmJobs={"j1": JOB})], warnings)
    assert vm.jobs == (VmJob("j1", "block", "commit", "img-1", 524288, 1048576, 0),)
    assert vm.jobs[0].percent == 50 and warnings == []


JOB_CASES = [
    ("absent: unknown", {}, None, False),
    ("empty map: no jobs", {"vmJobs": {}}, (), False),
    ("not a map", {"vmJobs": ["j1"]}, None, True),
    ("a bad job is skipped", {"vmJobs": {"j1": JOB, "j2": {"id": "j2", "cur": "x"}}}, ("j1",), True),
    ("job not an object", {"vmJobs": {"j1": JOB, "j2": 7}}, ("j1",), True),
    ("id from the key when absent", {"vmJobs": {"k": {"cur": "1", "end": "2"}}}, ("k",), False),
]


@pytest.mark.parametrize("extra, ids, warned", [c[1:] for c in JOB_CASES], ids=[c[0] for c in JOB_CASES])
def test_vm_jobs_shapes(extra, ids, warned):
    warnings: list[str] = []
    [vm] = parse_vm_stats([_vm(**extra)], warnings)
    assert (None if vm.jobs is None else tuple(j.job_id for j in vm.jobs)) == ids
    assert bool(warnings) == warned
    assert vm.status is not None  # the VM itself is fine


DISK = {"type": "disk", "device": "disk", "deviceId": "d1", "alias": "ua-d1", "readonly": "False",
        "address": {"unit": "0", "bus": "0", "type": "drive"}}
SERIAL = {"type": "controller", "device": "virtio-serial", "alias": "virtio-serial0",
          "address": {"slot": "0x09", "type": "pci"}}
GRAPHICS = {"type": "graphics", "device": "vnc", "deviceId": "g1"}


def test_full_list_devices():
    warnings: list[str] = []
    found = parse_vm_devices([{"vmId": "v1", "status": "Up", "devices": [DISK, SERIAL, GRAPHICS]}], warnings)
    disk, serial = sorted(found["v1"], key=lambda d: d.type, reverse=True)
    assert (disk.device_id, disk.managed, disk.address) == ("d1", True, '{"bus":"0","type":"drive","unit":"0"}')
    assert not serial.managed and serial.device_id  # an id derived for the unmanaged device
    assert warnings == []  # a device without an address is skipped quietly, as oVirt does


def test_unmanaged_ids_are_stable_and_per_vm():
    one = parse_vm_devices([{"vmId": "v1", "devices": [SERIAL]}])["v1"][0].device_id
    again = parse_vm_devices([{"vmId": "v1", "devices": [dict(SERIAL)]}])["v1"][0].device_id
    other = parse_vm_devices([{"vmId": "v2", "devices": [SERIAL]}])["v2"][0].device_id
    assert one == again != other


BAD_ROWS = [
    ("devices not a list", [{"vmId": "v1", "devices": {"a": 1}}, {"vmId": "v2", "devices": [DISK]}], {"v2"}),
    ("no devices (VDSM 4.40+ short row)", [{"vmId": "v1", "status": "Up"}, {"vmId": "v2", "devices": []}], {"v2"}),
    ("row without vmId", [{"devices": [DISK]}, {"vmId": "v2", "devices": [DISK]}], {"v2"}),
    ("row not an object", ["v1", {"vmId": "v2", "devices": [DISK]}], {"v2"}),
]


@pytest.mark.parametrize("rows, vms", [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_bad_rows_are_left_out_with_a_warning(rows, vms):
    warnings: list[str] = []
    assert set(parse_vm_devices(rows, warnings)) == vms
    assert warnings


@pytest.mark.parametrize("device", [
    {**DISK, "type": ""}, {**DISK, "device": None}, {**DISK, "address": 5}, {**DISK, "deviceId": 12},
    {**DISK, "type": "x" * 65}, "disk",
], ids=["empty type", "no device", "address not a map", "deviceId not a string", "type too long", "not an object"])
def test_bad_device_is_skipped_and_named(device):
    warnings: list[str] = []
    found = parse_vm_devices([{"vmId": "v1", "devices": [device, SERIAL]}], warnings)
    assert [d.type for d in found["v1"]] == ["controller"]
    assert warnings == ["vm v1: ignored invalid devices[0]"]


def test_result_not_a_list_is_invalid_data():
    with pytest.raises(InvalidData):
        parse_vm_devices({"vmList": []})
