"""Host.dumpxmls' domain XML into VmDevice records; hostile or broken XML is a per-VM warning.

The realistic inputs are VDSM's own test data (tests/agent/data/README.md says where from).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vurti.agent.errors import InvalidData
from vurti.agent.parse_devices import parse_vm_devices
from vurti.agent.parse_domxml import MAX_DOMXML_CHARS, parse_domxmls
from vurti.domain.devices import VmDevice

DATA = Path(__file__).parent / "data"
COMPAT41 = (DATA / "vdsm-vm_compat41.xml").read_text()
HOSTED_ENGINE = (DATA / "vdsm-hostedengine_lease.xml").read_text()
VM = "13070562-2ee7-4092-a746-7975ff5b3993"


def _one(xml: str, vm_id: str = VM) -> tuple[dict[str, VmDevice], list[str]]:
    warnings: list[str] = []
    found = parse_domxmls({vm_id: xml}, warnings)
    return {d.device_id: d for d in found[vm_id]}, warnings


def test_a_vm_of_ovirt_41_takes_its_device_ids_from_the_metadata() -> None:
    devices, warnings = _one(COMPAT41)
    assert warnings == []
    managed = {(d.type, d.device, d.alias): d.device_id for d in devices.values() if d.managed}
    assert managed == {
        ("disk", "disk", "scsi0-0-0-0"): "13134458-7b83-408d-a1cf-973d4bc48728",  # by target name: sda
        ("disk", "cdrom", "ide0-1-0"): "3c70e4dc-ba82-4008-b768-26142df9fe9d",  # hdc
        ("controller", "usb", "usb"): "87517a79-ebc3-485d-9daf-ac26209f6c89",  # by alias
        ("controller", "virtio-scsi", "scsi0"): "26a6ca10-64b8-46f1-8938-f73dda60562a",
        ("controller", "virtio-serial", "virtio-serial0"): "3d6952d0-9074-4216-a837-7b09cf8c1334",
        ("video", "qxl", "video0"): "90806216-7e0d-4ab3-b935-17738b8fb1cb",
        ("rng", "virtio", "rng0"): "6fd96b61-ed99-4441-81c5-a011a701b136",
    }
    unmanaged = sorted((d.type, d.device, d.alias) for d in devices.values() if not d.managed)
    assert unmanaged == [("channel", "spicevmc", "channel2"), ("channel", "unix", "channel0"),
                         ("channel", "unix", "channel1"), ("controller", "ide", "ide")]
    cdrom = devices["3c70e4dc-ba82-4008-b768-26142df9fe9d"]
    assert cdrom.readonly and cdrom.address == '{"bus":"1","controller":"0","target":"0","type":"drive","unit":"0"}'
    usb = devices["87517a79-ebc3-485d-9daf-ac26209f6c89"]
    assert usb.address == '{"bus":"0x00","domain":"0x0000","function":"0x2","slot":"0x01","type":"pci"}'
    # No address, not stored (as oVirt skips them): the pci-root controller, the balloon of
    # model none, the graphics, the inputs.
    assert not {"pci.0", "balloon0", "input0"} & {d.alias for d in devices.values()}
    assert all(d.type != "graphics" for d in devices.values())


def test_engine_aliases_name_the_device_ids_and_a_lease_without_address_is_not_a_device() -> None:
    devices, warnings = _one(HOSTED_ENGINE, "ac698e04-d30b-426a-9f3c-0e95641b2b79")
    assert warnings == [] and all(d.managed and d.alias == f"ua-{d.device_id}" for d in devices.values())
    kinds = sorted((d.type, d.device) for d in devices.values())
    assert kinds == [("controller", "ide"), ("controller", "usb"), ("controller", "virtio-scsi"),
                     ("controller", "virtio-serial"), ("disk", "cdrom"), ("disk", "disk"),
                     ("interface", "bridge"), ("video", "qxl")]
    assert all(d.type not in ("lease", "balloon", "rng") for d in devices.values())  # no <address>


def test_unmanaged_ids_are_stable_and_match_the_legacy_form() -> None:
    """The same device read from 4.30's devices list or from the XML is one record."""
    first, _ = _one(COMPAT41)
    again, _ = _one(COMPAT41)
    assert first == again
    (channel,) = [d for d in first.values() if d.alias == "channel0"]
    legacy = parse_vm_devices([{"vmId": VM, "devices": [{
        "type": "channel", "device": "unix", "alias": "channel0",
        "address": {"type": "virtio-serial", "controller": "0", "bus": "0", "port": "1"}}]}])
    assert legacy[VM] == (channel,)


NIC_BY_MAC = """<domain type='kvm'>
  <metadata><ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
    <ovirt-vm:device mac_address="00:1a:4a:16:01:51"><ovirt-vm:deviceId>aa3ba87e-2b4a-4c9c-a4c5-4b1e7d7e1a10</ovirt-vm:deviceId></ovirt-vm:device>
  </ovirt-vm:vm></metadata>
  <devices>
    <interface type='bridge'><mac address='00:1A:4A:16:01:51'/><source bridge='ovirtmgmt'/><alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
    <hostdev mode='subsystem' type='pci' managed='no'><source>
      <address domain='0x0000' bus='0x05' slot='0x00' function='0x1'/></source><alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/></hostdev>
    <interface><alias name='net1'/><address type='pci' slot='0x09'/></interface>
  </devices>
</domain>"""


def test_a_nic_is_found_in_the_metadata_by_its_mac_and_a_host_device_by_its_source() -> None:
    devices, warnings = _one(NIC_BY_MAC)
    nic = devices["aa3ba87e-2b4a-4c9c-a4c5-4b1e7d7e1a10"]
    assert (nic.type, nic.device, nic.alias, nic.managed) == ("interface", "bridge", "net0", True)
    (hostdev,) = [d for d in devices.values() if d.type == "hostdev"]
    assert hostdev.device == "pci_0000_05_00_1" and not hostdev.managed
    assert '"bus":"0x07"' in hostdev.address  # its own address, not its source's
    assert warnings == [f"vm {VM}: ignored invalid <interface> #2"]  # no type: no device name


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE domain [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<domain><devices><disk device='disk'><alias name='&lol9;'/><address unit='0'/></disk></devices></domain>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<domain><devices><disk device='disk'><alias name='x'/><serial>&xxe;</serial><address unit='0'/></disk></devices></domain>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "http://127.0.0.1:9/domain.dtd">
<domain><devices/></domain>"""


@pytest.mark.parametrize(("xml", "why"), [
    (BILLION_LAUGHS, "DTDForbidden"),
    (EXTERNAL_ENTITY, "DTDForbidden"),
    (EXTERNAL_DTD, "DTDForbidden"),
    ("<domain>" + " " * MAX_DOMXML_CHARS + "</domain>", "over the limit"),
    ("garbage \x00 <<<", "ParseError"),
    ("<domain><devices>", "ParseError"),
    ("", "ParseError"),
    ("<html><devices/></html>", "not <domain>"),
    ("<domain type='kvm'><name>x</name></domain>", "no <devices>"),
    (12, "not a string"),
], ids=["billion laughs", "external entity", "external DTD", "huge", "garbage", "truncated", "empty",
        "not a domain", "no devices", "not a string"])
def test_hostile_or_broken_xml_is_refused_for_that_vm_alone(xml: object, why: str) -> None:
    warnings: list[str] = []
    started = time.process_time()
    found = parse_domxmls({"bad": xml, VM: COMPAT41}, warnings)
    assert time.process_time() - started < 2.0  # refused, not expanded or parsed at length
    assert set(found) == {VM} and len(found[VM]) == 11  # the other VM of the reply is read
    (warning,) = warnings
    assert warning.startswith("vm bad: domain XML not read") and why in warning


def test_a_reply_that_is_not_a_map_is_invalid_data() -> None:
    with pytest.raises(InvalidData, match="expected a map of VM id to domain XML"):
        parse_domxmls([COMPAT41])
    warnings: list[str] = []
    assert parse_domxmls({"": COMPAT41}, warnings) == {} and "without a usable VM id" in warnings[0]
