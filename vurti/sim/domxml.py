"""A simulated VM's libvirt domain XML, as VDSM 4.40 and later answer `Host.dumpxmls`.

Rendered from the same device list as VDSM 4.30's `devices` (sim/devices.py), so
both forms describe one set of devices: every device under `<devices>` with its
`<alias>` and `<address>`, and oVirt's metadata (`<ovirt-vm:vm>`) naming the
engine's `deviceId` of each managed device, keyed as VDSM keys it (a disk by its
target, an interface by its MAC address, any other by its alias).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from vurti.sim.devices import devices
from vurti.sim.fleet import Record

OVIRT_VM = "http://ovirt.org/vm/1.0"
OVIRT_TUNE = "http://ovirt.org/vm/tune/1.0"


def _attrs(values: dict[str, Any]) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in values.items())


def disk_target(d: dict[str, Any]) -> str:
    """The guest's name of a simulated disk: sda, sdb, ... by its unit."""
    unit = int((d.get("address") or {}).get("unit", 0))
    return "sd" + chr(ord("a") + unit % 26)


def _element(d: dict[str, Any]) -> str:
    kind, device = d["type"], d["device"]
    inner: list[str] = []
    if kind == "disk":
        tag, attrs = "disk", {"type": "file", "device": device, "snapshot": "no"}
        image = d.get("deviceId", "")
        inner += ["<driver name='qemu' type='qcow2' cache='none' error_policy='stop' io='threads'/>",
                  f"<source file={quoteattr(f'/rhev/data-center/mnt/nfs/images/{image}/{image}')}/>",
                  f"<target dev='{disk_target(d)}' bus='scsi'/>", f"<serial>{escape(image)}</serial>"]
        if str(d.get("readonly", "false")).lower() == "true":
            inner.append("<readonly/>")
    elif kind == "interface":
        tag, attrs = "interface", {"type": device}
        inner += [f"<mac address={quoteattr(d.get('macAddr', ''))}/>",
                  f"<source bridge={quoteattr(d.get('network', 'ovirtmgmt'))}/>", "<model type='virtio'/>"]
    elif kind == "balloon":
        tag, attrs = "memballoon", {"model": (d.get("specParams") or {}).get("model", "virtio")}
        inner.append("<stats period='5'/>")
    elif kind == "controller":
        scsi = device == "virtio-scsi"
        tag, attrs = "controller", {"type": "scsi" if scsi else device, "index": "0"}
        if scsi:
            attrs["model"] = "virtio-scsi"
    elif kind == "graphics":
        tag, attrs = "graphics", {"type": device, "port": "-1", "autoport": "yes"}
    else:
        tag, attrs = kind, {}
    if d.get("alias"):
        inner.append(f"<alias name={quoteattr(d['alias'])}/>")
    if d.get("address"):
        inner.append(f"<address{_attrs(d['address'])}/>")
    return f"    <{tag}{_attrs(attrs)}>" + "".join(inner) + f"</{tag}>\n"


def _metadata_entry(d: dict[str, Any]) -> str:
    """VDSM's metadata for a managed device: its deviceId, keyed as VDSM finds it again."""
    if d["type"] == "interface":
        key = {"mac_address": d.get("macAddr", "")}
        extra = f"<ovirt-vm:network>{escape(d.get('network', 'ovirtmgmt'))}</ovirt-vm:network>"
    elif d["type"] == "disk":
        key = {"devtype": "disk", "name": disk_target(d)}
        extra = f"<ovirt-vm:imageID>{escape(d['deviceId'])}</ovirt-vm:imageID>"
    else:
        key = {"devtype": d["type"], "name": d.get("alias") or d["device"]}
        extra = ""
    return (f"      <ovirt-vm:device{_attrs(key)}><ovirt-vm:deviceId>{escape(d['deviceId'])}</ovirt-vm:deviceId>"
            f"{extra}</ovirt-vm:device>\n")


def domain_xml(rec: Record) -> str:
    """The VM's domain XML now (what libvirt's XMLDesc gives VDSM)."""
    spec = rec.spec
    listed, _ = devices(spec)
    kib = spec.mem_mb * 1024
    return (
        f"<domain type='kvm' id='{spec.vnc_port % 1000 + 1}' xmlns:ovirt-vm='{OVIRT_VM}'>\n"
        f"  <name>{escape(spec.name)}</name>\n  <uuid>{spec.vm_id}</uuid>\n"
        f"  <metadata xmlns:ns1='{OVIRT_TUNE}' xmlns:ovirt-vm='{OVIRT_VM}'>\n    <ns1:qos/>\n"
        f"    <ovirt-vm:vm>\n      <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>\n"
        f"      <ovirt-vm:memGuaranteedSize type='int'>{spec.mem_mb}</ovirt-vm:memGuaranteedSize>\n"
        f"      <ovirt-vm:startTime type='float'>{rec.started:.2f}</ovirt-vm:startTime>\n"
        + "".join(_metadata_entry(d) for d in listed if d.get("deviceId"))
        + "    </ovirt-vm:vm>\n  </metadata>\n"
        f"  <memory unit='KiB'>{kib}</memory>\n  <currentMemory unit='KiB'>{kib}</currentMemory>\n"
        f"  <vcpu placement='static' current='{spec.ncpu}'>16</vcpu>\n"
        "  <os><type arch='x86_64' machine='pc-q35-rhel9.4.0'>hvm</type></os>\n"
        "  <devices>\n    <emulator>/usr/libexec/qemu-kvm</emulator>\n"
        + "".join(_element(d) for d in listed)
        + "    <input type='tablet' bus='usb'><alias name='input0'/></input>\n"
        "  </devices>\n</domain>\n"
    )
