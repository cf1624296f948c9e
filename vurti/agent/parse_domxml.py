"""A VM's devices from its libvirt domain XML (`Host.dumpxmls`, VDSM 4.40 and later).

What the engine's VmDevicesConverter reads, into the records VDSM 4.30's
`devices` give (parse_devices.py): the devices under `<devices>`, each with its
type and device, `<alias name>`, `<address>` (its attributes, as 4.30's address
map) and `<readonly/>`. The engine's device id is the alias after `ua-` (the
engine names the devices it creates so) or, for VMs started before that, the
`ovirt-vm:deviceId` of the VM's metadata entry for the device (keyed as VDSM
keys it: an interface by MAC address, a disk by its target name, any other by
its alias). A device without one is unmanaged and gets the derived id.

The XML comes from the agent and is not trusted: defusedxml refuses any DTD
(so entity expansion and external entities never happen), a text over
MAX_DOMXML_CHARS is not parsed, and a VM whose XML cannot be read is a warning
with its devices unknown, never a failed poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from vurti.agent.convert import brief
from vurti.agent.errors import InvalidData
from vurti.agent.parse_devices import canonical_address, device_list, make_device
from vurti.domain.devices import VmDevice

# A VM with hundreds of devices and its metadata stays far below this; larger is refused unread.
MAX_DOMXML_CHARS = 1_000_000
OVIRT_VM = "{http://ovirt.org/vm/1.0}"
USER_ALIAS = "ua-"  # the engine's alias prefix: ua-<deviceId>

MetaKey = tuple[str, ...]


def parse_domxmls(result: object, warnings: list[str] | None = None) -> dict[str, tuple[VmDevice, ...]]:
    """Host.dumpxmls' map VM id -> domain XML into VM id -> its devices. A VM whose XML
    cannot be read is left out, with a warning: its devices stay unknown."""
    if type(result) is not dict:
        raise InvalidData(f"Host.dumpxmls result is {type(result).__name__}, expected a map of VM id to domain XML")
    sink: list[str] = [] if warnings is None else warnings
    out: dict[str, tuple[VmDevice, ...]] = {}
    for vm_id, xml in result.items():
        if type(vm_id) is not str or not vm_id:
            sink.append(f"skipped a domain XML without a usable VM id: {brief(vm_id)}")
            continue
        try:
            out[vm_id] = domain_devices(vm_id, xml, sink)
        except ValueError as exc:
            sink.append(f"vm {vm_id}: domain XML not read ({exc}); devices not read")
    return out


def domain_devices(vm_id: str, xml: object, warnings: list[str]) -> tuple[VmDevice, ...]:
    """One VM's devices; raises ValueError when its XML is not a readable libvirt domain."""
    if type(xml) is not str:
        raise ValueError(f"not a string: {brief(xml)}")
    if len(xml) > MAX_DOMXML_CHARS:
        raise ValueError(f"{len(xml)} characters, over the limit of {MAX_DOMXML_CHARS}")
    try:
        root = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if root.tag != "domain":
        raise ValueError(f"root element is <{brief(root.tag)}>, not <domain>")
    devices = root.find("devices")
    if devices is None:
        raise ValueError("no <devices>")
    ids = _metadata_ids(root)
    found: list[VmDevice | None] = []
    bad: list[str] = []
    for i, element in enumerate(devices):
        known = _DEVICE.get(element.tag) if type(element.tag) is str else None
        if known is None:
            continue  # not a device the engine reads (emulator, input, serial, ...)
        kind, name = known[0], known[1](element)
        alias_node = element.find("alias")
        alias = alias_node.get("name", "") if alias_node is not None else ""
        device = make_device(vm_id, kind, name, _address(element), alias, _device_id(kind, alias, element, ids),
                             element.find("readonly") is not None)
        if device is None:
            bad.append(f"<{element.tag}> #{i}")
        found.append(device)
    if bad:
        warnings.append(f"vm {vm_id}: ignored invalid {', '.join(bad)}")
    return device_list(found)


def _address(element: Element) -> str:
    """The device's own `<address>` (not its source's), as canonical JSON; "" when it has none."""
    node = element.find("address")
    if node is None:
        return ""
    return canonical_address(dict(node.attrib)) or ""


def _device_id(kind: str, alias: str, element: Element, ids: dict[MetaKey, str]) -> str | None:
    """The engine's id of the device: from a `ua-` alias, else from the VM's metadata; None: unmanaged."""
    if alias.startswith(USER_ALIAS):
        try:
            uuid.UUID(alias[len(USER_ALIAS):])
        except ValueError:
            pass
        else:
            return alias[len(USER_ALIAS):]
    keys: list[MetaKey] = [("alias", alias)] if alias else []
    if kind == "interface":
        mac = element.find("mac")
        if mac is not None and mac.get("address"):
            keys.append(("mac", mac.get("address", "").lower()))
    elif kind == "disk":
        target = element.find("target")
        if target is not None and target.get("dev"):
            keys.append(("name", "disk", target.get("dev", "")))
    if alias:
        keys.append(("name", kind, alias))
    return next((ids[k] for k in keys if k in ids), None)


def _metadata_ids(root: Element) -> dict[MetaKey, str]:
    """`<ovirt-vm:device>` entries that carry a deviceId, by each key VDSM matches them with."""
    vm = root.find(f"metadata/{OVIRT_VM}vm")
    ids: dict[MetaKey, str] = {}
    if vm is None:
        return ids
    for entry in vm.iter(f"{OVIRT_VM}device"):
        node = entry.find(f"{OVIRT_VM}deviceId")
        device_id = (node.text or "").strip() if node is not None else ""
        if not device_id:
            continue
        if entry.get("alias"):
            ids.setdefault(("alias", entry.get("alias", "")), device_id)
        if entry.get("mac_address"):
            ids.setdefault(("mac", entry.get("mac_address", "").lower()), device_id)
        if entry.get("devtype") and entry.get("name"):
            ids.setdefault(("name", entry.get("devtype", ""), entry.get("name", "")), device_id)
    return ids


def _attr(name: str, default: str = "") -> Callable[[Element], str]:
    return lambda element: element.get(name) or default


def _controller(element: Element) -> str:
    model = element.get("model")
    return "virtio-scsi" if model == "virtio-scsi" else element.get("type", "")


def _video(element: Element) -> str:
    model = element.find("model")
    return model.get("type", "") if model is not None else ""


def _hostdev(element: Element) -> str:
    """The host device's name as VDSM gives it (pci_0000_05_00_1); another kind by its source address."""
    kind = element.get("type", "")
    source = element.find("source/address")
    if source is None:
        return kind
    if kind == "pci":
        try:
            parts = [int(source.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")]
        except ValueError:
            return kind
        return "pci_{:04x}_{:02x}_{:02x}_{:x}".format(*parts)
    if source.get("uuid"):
        return source.get("uuid", "")  # a mediated device
    return "_".join([kind, *(v for _, v in sorted(source.attrib.items()))])


def _fixed(name: str) -> Callable[[Element], str]:
    return lambda _: name


# Element -> (general type, device), as the engine stores them (VmDeviceGeneralType, VmDeviceType).
_DEVICE: dict[str, tuple[str, Callable[[Element], str]]] = {
    "disk": ("disk", _attr("device", "disk")),
    "interface": ("interface", _attr("type")),
    "controller": ("controller", _controller),
    "video": ("video", _video),
    "graphics": ("graphics", _attr("type")),
    "memballoon": ("balloon", _fixed("memballoon")),
    "channel": ("channel", _attr("type")),
    "rng": ("rng", _attr("model", "virtio")),
    "watchdog": ("watchdog", _fixed("watchdog")),
    "sound": ("sound", _attr("model")),
    "smartcard": ("smartcard", _fixed("smartcard")),
    "console": ("console", _fixed("console")),
    "redirdev": ("redir", _attr("type")),
    "memory": ("memory", _fixed("memory")),
    "hostdev": ("hostdev", _hostdev),
    "lease": ("lease", _fixed("lease")),
}
