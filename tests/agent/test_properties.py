"""Parsers never raise on arbitrary JSON (only InvalidData), and what they return survives JSON."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vurti.agent import InvalidData, parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats, vm_digest
from vurti.agent.parse_devices import parse_vm_devices
from vurti.agent.parse_domxml import parse_domxmls
from vurti.agent.plan import raw_vm_digest
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import VDSM_VM_STATUS

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
numeric_strings = st.sampled_from(["12.5", "-1", "0", "1e3", "nan", "inf", "", " 7 ", "²", "--1", "9" * 30])
json_values = st.recursive(
    scalars | numeric_strings,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

VM_KEYS = [
    "vmId",
    "status",
    "statusTime",
    "vmName",
    "cpuUser",
    "cpuSys",
    "elapsedTime",
    "memUsage",
    "monitorResponse",
    "guestCPUCount",
    "clientIp",
    "guestIPs",
    "guestFQDN",
    "hash",
    "pauseCode",
    "exitCode",
    "exitReason",
    "exitMessage",
    "migrationProgress",
    "watchdogEvent",
    "balloonInfo",
    "memoryStats",
    "network",
    "disks",
    "vmJobs",
]
HOST_KEYS = [
    "cpuUser",
    "cpuSys",
    "cpuIdle",
    "cpuLoad",
    "memFree",
    "memUsed",
    "memShared",
    "swapFree",
    "swapTotal",
    "vmCount",
    "vmActive",
    "vmMigrating",
    "elapsedTime",
    "bootTime",
    "network",
]
CAPS_KEYS = [
    "cpuModel",
    "cpuFlags",
    "cpuCores",
    "cpuSockets",
    "memSize",
    "networks",
    "software_version",
    "kvmEnabled",
    "uuid",
]

nic_like = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        (
            "state",
            "speed",
            "rxRate",
            "txRate",
            "rx",
            "tx",
            "rxErrors",
            "txErrors",
            "rxDropped",
            "txDropped",
            "readRate",
            "readLatency",
            "apparentsize",
            "truesize",
        ),
        json_values | numeric_strings,
    ),
)
job_like = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("id", "jobType", "blockJobType", "cur", "end", "bandwidth", "imgUUID"),
                               json_values | numeric_strings)
)
field_values = (
    numeric_strings
    | json_values
    | st.sampled_from([*sorted(VDSM_VM_STATUS), "ERROR", "NORMAL", "migration succeeded"])
    | st.dictionaries(st.text(max_size=6), nic_like | json_values, max_size=3)
    | st.fixed_dictionaries(
        {}, optional={"action": json_values, "time": json_values, "balloon_cur": json_values, "mem_free": json_values}
    )
    | st.dictionaries(st.text(max_size=6), job_like | json_values, max_size=3)
)


def _like(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, field_values))


vm_like = _like(VM_KEYS) | json_values


def _survives_json(report: HostReport) -> None:
    assert HostReport.from_json(orjson.loads(orjson.dumps(report.to_json()))) == report


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(vm_like, max_size=5) | json_values, st.booleans())
def test_vm_parsers_return_vms_or_raise_invalid_data(result: Any, full: bool) -> None:
    warnings: list[str] = []
    try:
        vms = (parse_vm_stats if full else parse_vm_list)(result, warnings)
    except InvalidData:
        assert not isinstance(result, list) or (not full and all(isinstance(e, str) for e in result))
        return
    assert isinstance(result, list) and len(vms) <= len(result)
    assert all(isinstance(w, str) for w in warnings)
    _survives_json(HostReport(host_id="h", fetched_at=0.0, vms=vms, vms_full=full, warnings=tuple(warnings)))


@settings(max_examples=300)
@given(_like(HOST_KEYS) | json_values)
def test_host_stats_parser_returns_stats_or_raises_invalid_data(result: Any) -> None:
    try:
        stats = parse_host_stats(result, [])
    except InvalidData:
        assert not isinstance(result, dict)
        return
    _survives_json(HostReport(host_id="h", fetched_at=0.0, stats=stats))


@settings(max_examples=300)
@given(_like(CAPS_KEYS) | json_values)
def test_capabilities_parser_returns_capabilities_or_raises_invalid_data(result: Any) -> None:
    try:
        caps = parse_capabilities(result, [])
    except InvalidData:
        assert not isinstance(result, dict)
        return
    _survives_json(HostReport(host_id="h", fetched_at=0.0, capabilities=caps))


device_like = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("type", "device", "deviceId", "alias", "address", "readonly"),
                               json_values | st.sampled_from(["disk", "interface", "bridge", "ua-1"]))
) | json_values
full_rows = st.lists(
    st.fixed_dictionaries({"vmId": st.sampled_from(["a", "b", ""]) | json_values},
                          optional={"devices": st.lists(device_like, max_size=4) | json_values}) | json_values,
    max_size=4,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(full_rows | json_values)
def test_device_parser_returns_devices_or_raises_invalid_data(result: Any) -> None:
    warnings: list[str] = []
    try:
        found = parse_vm_devices(result, warnings)
    except InvalidData:
        assert not isinstance(result, list)
        return
    vms = tuple(VmReport(vm_id, None, devices=devices) for vm_id, devices in found.items())
    assert all(d.address and d.device_id for v in vms for d in v.devices or ())
    _survives_json(HostReport(host_id="h", fetched_at=0.0, vms=vms, warnings=tuple(warnings)))


def _element(tag: str, attrs: dict[str, str], children: list[str]) -> str:
    return f"<{tag}" + "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items()) + ">" + "".join(children) + f"</{tag}>"


names = st.sampled_from(["disk", "interface", "controller", "memballoon", "hostdev", "video", "alias", "address",
                         "source", "mac", "target", "model", "readonly", "x"])
attrs = st.dictionaries(st.sampled_from(["type", "device", "name", "model", "unit", "slot", "bus", "domain",
                                         "function", "address", "dev", "uuid"]),
                        st.sampled_from(["", "0x05", "pci", "virtio-scsi", "ua-1", "ua-" + "0" * 8 + "-0000-4000-8000-"
                                         + "0" * 12, "zz", "é"]) | st.text(max_size=6), max_size=3)
elements = st.recursive(st.builds(_element, names, attrs, st.just([])),
                        lambda kids: st.builds(_element, names, attrs, st.lists(kids, max_size=3)), max_leaves=10)
domains = st.builds(lambda kids: "<domain><devices>" + "".join(kids) + "</devices></domain>",
                    st.lists(elements, max_size=4))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["a", "b", ""]) | st.text(max_size=3), domains | st.text(max_size=40)
                       | json_values, max_size=3) | json_values)
def test_domain_xml_parser_returns_devices_or_raises_invalid_data(result: Any) -> None:
    warnings: list[str] = []
    try:
        found = parse_domxmls(result, warnings)
    except InvalidData:
        assert not isinstance(result, dict)
        return
    vms = tuple(VmReport(vm_id, None, devices=devices) for vm_id, devices in found.items())
    assert all(d.address and d.device_id for v in vms for d in v.devices or ())
    _survives_json(HostReport(host_id="h", fetched_at=0.0, vms=vms, warnings=tuple(warnings)))


vm_ids = st.sampled_from(["a", "b", "c", ""]) | st.text(max_size=4)
short_rows = st.lists(
    st.fixed_dictionaries({"vmId": vm_ids | json_values, "status": field_values}, optional={"statusTime": json_values})
    | vm_like,
    max_size=5,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(short_rows | json_values)
def test_raw_digest_is_the_parsed_digest_or_none(result: Any) -> None:
    """The steady-state short-cut never calls a list unchanged that the parser would see changed."""
    raw = raw_vm_digest(result)
    if raw is None:
        return
    warnings: list[str] = []
    assert raw == vm_digest(parse_vm_list(result, warnings))
    assert warnings == [] or all("ignored invalid" in w for w in warnings)  # nothing skipped


def test_raw_digest_declines_what_the_parser_would_skip_or_warn_about() -> None:
    good = [{"vmId": "a", "status": "Up"}, {"vmId": "b", "status": "Paused", "statusTime": "12"}]
    assert raw_vm_digest(good) == vm_digest(parse_vm_list(good))
    for bad in ([*good, {"vmId": "a", "status": "Down"}], [*good, "c"], [{"vmId": "", "status": "Up"}],
                [{"vmId": "a", "status": 1}], [{"status": "Up"}], {"vmId": "a"}):
        assert raw_vm_digest(bad) is None, bad


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=scalars | numeric_strings | st.integers(min_value=-(1 << 70), max_value=1 << 70).map(str))
def test_field_readers_agree_with_the_value_converters(value: Any) -> None:
    """get_int/get_float take short cuts for the wire's usual forms; the result must be to_int's/to_float's."""
    from vurti.agent.convert import get_float, get_int, to_float, to_int

    for read, convert, default in ((get_int, to_int, 0), (get_float, to_float, 0.0)):
        bad: list[str] = []
        expected = convert(value) if value is not None else default
        got = read({"k": value}, "k", bad)
        assert (got, bad) == ((default, ["k"]) if expected is None else (expected, [])), (read, value)
        assert type(got) is type(expected if expected is not None else default)
