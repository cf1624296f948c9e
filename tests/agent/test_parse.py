"""Parsing VDSM wire-form replies into domain data (pure, no server)."""

from __future__ import annotations

import copy

import orjson
import pytest

from tests.agent import wire
from vurti.agent import InvalidData, parse_capabilities, parse_host_stats, parse_vm_list, parse_vm_stats
from vurti.domain.report import DiskStats, HostReport, NicStats, VmStats, Watchdog
from vurti.domain.status import VmStatus

A, B, C = wire.vm_ids(3)


def test_a_running_vm_in_wire_form() -> None:
    (vm,) = parse_vm_stats([wire.running_vm(A, 0)])
    assert vm.vm_id == A and vm.status is VmStatus.Up and vm.vdsm_status == "Up"
    assert vm.status_time == wire.STATUS_TIME
    assert vm.name == "vm-0"
    assert vm.monitor_response == 0 and vm.guest_cpu_count == -1
    assert vm.hash == "-4820192837465"
    assert vm.guest_ips == "10.0.0.5 10.0.0.6" and vm.client_ip == ""
    assert vm.exit_code is None and vm.problem is None and vm.watchdog is None
    assert vm.stats == VmStats(
        cpu_user=12.5,
        cpu_sys=1.25,
        elapsed_time=3600.0,
        mem_usage=42,
        balloon_cur=4194304,
        balloon_target=4194304,
        balloon_min=1048576,
        balloon_max=4194304,
        guest_mem_free=2100000,
        guest_mem_total=4030000,
        guest_mem_unused=1900000,
        migration_progress=None,
        vcpu_count=2,  # vcpuCount, a string on the wire
        nics=(NicStats("vnet0", "up", 1000, None, None, 123456, 654321, 0, 1, 2, 0, sample_time=4300.12),),
        disks=(DiskStats("vda", 1024.0, 2048.5, 0.002, 0.0005, 0.0, 10737418240, 2147483648),),
    )


@pytest.mark.parametrize(
    "code, reason, expected",
    [
        (1, 1, (1, 1)),  # the wire: ints
        ("ERROR", "lost qemu connection", (1, 2)),  # the schema: enum names
        ("NORMAL", "migration succeeded", (0, 4)),
        ("0", "4", (0, 4)),
    ],
)
def test_a_down_record_carries_exit_info_only(code: object, reason: object, expected: tuple[int, int]) -> None:
    (vm,) = parse_vm_stats([wire.down_vm(A, code, reason, "bye")])
    assert vm.status is VmStatus.Down
    assert (vm.exit_code, vm.exit_reason, vm.exit_message) == (*expected, "bye")
    assert vm.stats is None and vm.name is None and vm.problem is None
    assert vm.status_time == wire.STATUS_TIME + 99


def test_migration_source_with_progress() -> None:
    (vm,) = parse_vm_stats([wire.migration_source(A, progress=37)])
    assert vm.status is VmStatus.MigratingFrom and vm.vdsm_status == "Migration Source"
    assert vm.stats is not None and vm.stats.migration_progress == 37


def test_postcopy_paused_with_almost_no_keys() -> None:
    (vm,) = parse_vm_stats([wire.postcopy_paused(A)])
    assert vm.status is VmStatus.Paused and vm.pause_code == "POSTCOPY"
    assert vm.stats == VmStats()  # nothing sampled: defaults, no warning


def test_monitor_not_responding_is_kept_for_the_analyzer() -> None:
    (vm,) = parse_vm_stats([wire.running_vm(A, monitorResponse="-1")])
    assert vm.status is VmStatus.Up and vm.monitor_response == -1


def test_watchdog_event() -> None:
    (vm,) = parse_vm_stats([wire.running_vm(A, watchdogEvent={"action": "reset", "time": 1764000000.5})])
    assert vm.watchdog == Watchdog(action="reset", time=1764000000.5)


def test_watchdog_event_without_an_action_is_kept() -> None:
    warnings: list[str] = []
    (vm,) = parse_vm_stats([wire.running_vm(A, watchdogEvent={"time": 1764000000.5})], warnings)
    assert vm.watchdog == Watchdog(action=None, time=1764000000.5)
    assert warnings == []


def test_absent_disk_latencies_are_unknown_not_zero() -> None:
    entry = wire.running_vm(A)
    for key in ("readLatency", "writeLatency", "flushLatency"):
        del entry["disks"]["vda"][key]
    warnings: list[str] = []
    (vm,) = parse_vm_stats([entry], warnings)
    assert vm.stats is not None
    (disk,) = vm.stats.disks
    assert (disk.read_latency, disk.write_latency, disk.flush_latency) == (None, None, None)
    assert disk.read_rate == 1024.0 and warnings == []


def test_nic_counters_and_sample_time_are_read_rates_only_from_older_agents() -> None:
    """VDSM sends byte counters and sampleTime (rates are derived); older agents sent rxRate."""
    (vm,) = parse_vm_stats([wire.running_vm(A)])
    assert vm.stats is not None
    (nic,) = vm.stats.nics
    assert (nic.rx_bytes, nic.tx_bytes, nic.sample_time, nic.rx_rate) == (123456, 654321, 4300.12, None)
    entry = wire.running_vm(A)
    entry["network"]["vnet0"].update(rxRate="0.5", txRate="0.2")
    (old,) = parse_vm_stats([entry])
    assert old.stats is not None and (old.stats.nics[0].rx_rate, old.stats.nics[0].tx_rate) == (0.5, 0.2)


def test_missing_optional_keys_give_defaults_without_warnings() -> None:
    entry = wire.running_vm(A)
    for key in ("network", "disks", "balloonInfo", "memoryStats", "vcpuCount", "vmJobs", "hash", "guestIPs"):
        del entry[key]
    entry["status"] = "WaitForLaunch"
    warnings: list[str] = []
    (vm,) = parse_vm_stats([entry], warnings)
    assert warnings == []
    assert vm.status is VmStatus.WaitForLaunch
    assert vm.stats is not None and vm.stats.nics == () and vm.stats.balloon_cur is None
    assert vm.hash is None


def test_status_time_as_an_int_is_accepted() -> None:
    (vm,) = parse_vm_stats([wire.running_vm(A, statusTime=4300000123)])
    assert vm.status_time == 4300000123


def test_unknown_status_is_a_problem_of_that_vm_only() -> None:
    warnings: list[str] = []
    vms = parse_vm_stats([wire.running_vm(A), wire.running_vm(B, status="Hibernating"), wire.down_vm(C)], warnings)
    assert [vm.vm_id for vm in vms] == [A, B, C]
    assert vms[1].status is None and vms[1].problem == "unknown VM status 'Hibernating'"
    assert vms[1].vdsm_status == "Hibernating"
    assert vms[0].status is VmStatus.Up and vms[0].problem is None
    assert vms[2].status is VmStatus.Down


def test_missing_status_is_a_problem_too() -> None:
    entry = wire.running_vm(A)
    del entry["status"]
    (vm,) = parse_vm_stats([entry])
    assert vm.status is None and vm.problem == "unknown VM status None"


def test_entries_that_are_not_vms_are_skipped_with_a_warning() -> None:
    warnings: list[str] = []
    no_id = wire.running_vm(B)
    del no_id["vmId"]
    vms = parse_vm_stats(["just-a-string", no_id, wire.running_vm(A), wire.running_vm(A), 42], warnings)
    assert [vm.vm_id for vm in vms] == [A]
    assert len(warnings) == 4
    assert any("not an object" in w and "just-a-string" in w for w in warnings)
    assert any("without a usable vmId" in w for w in warnings)
    assert any("second entry" in w for w in warnings)


def test_wrong_field_types_are_warnings_for_that_vm_not_a_crash() -> None:
    warnings: list[str] = []
    bad = wire.running_vm(
        B,
        cpuUser={},
        memUsage="lots",
        vmName=7,
        statusTime="soon",
        network={"vnet0": "down", "vnet1": {"rx": [1]}},
        balloonInfo={"balloon_cur": "needs updating"},
        disks=[],
        exitCode="WEIRD",
    )
    vms = parse_vm_stats([wire.running_vm(A), bad], warnings)
    assert vms[0].stats == parse_vm_stats([wire.running_vm(A)])[0].stats
    vm = vms[1]
    assert vm.status is VmStatus.Up and vm.problem is None
    assert vm.stats is not None and vm.stats.cpu_user == 0.0 and vm.stats.mem_usage == 0
    assert vm.name is None and vm.status_time is None and vm.exit_code is None
    assert vm.stats.nics == (NicStats("vnet1"),) and vm.stats.disks == ()
    (warning,) = warnings
    assert warning.startswith(f"vm {B}: ignored invalid ")
    for name in (
        "cpuUser",
        "memUsage",
        "vmName",
        "statusTime",
        "network.vnet0",
        "network.vnet1.rx",
        "balloonInfo.balloon_cur",
        "disks",
        "exitCode",
    ):
        assert name in warning


def test_nan_and_infinite_numbers_are_rejected() -> None:
    (vm,) = parse_vm_stats([wire.running_vm(A, cpuUser="nan", cpuSys="inf", elapsedTime="1e999")])
    assert vm.stats is not None and (vm.stats.cpu_user, vm.stats.cpu_sys, vm.stats.elapsed_time) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("result", [{}, "x", None, 1, {"vmId": A}])
def test_vm_stats_of_the_wrong_shape_is_invalid_data(result: object) -> None:
    with pytest.raises(InvalidData, match="expected a list"):
        parse_vm_stats(result)


def test_short_vm_list() -> None:
    vms = parse_vm_list(wire.vm_list(3))
    assert [vm.vm_id for vm in vms] == wire.vm_ids(3)
    assert all(vm.status is VmStatus.Up and vm.stats is None and vm.name is None for vm in vms)
    assert vms[2].status_time == wire.STATUS_TIME + 2


def test_short_list_ignores_figures_it_may_carry() -> None:
    (vm,) = parse_vm_list([wire.running_vm(A)])
    assert vm.stats is None and vm.name is None and vm.status is VmStatus.Up


def test_bare_uuid_list_from_old_vdsm_is_invalid_data() -> None:
    with pytest.raises(InvalidData, match="bare VM ids"):
        parse_vm_list(wire.vm_ids(2))


def test_empty_lists_are_valid() -> None:
    assert parse_vm_list([]) == () and parse_vm_stats([]) == ()


def test_host_stats_in_wire_form() -> None:
    stats = parse_host_stats(wire.host_stats())
    assert (stats.cpu_user, stats.cpu_sys, stats.cpu_idle, stats.cpu_load) == (3.41, 1.10, 95.49, 0.42)
    assert (stats.mem_free, stats.mem_used, stats.swap_free, stats.swap_total) == (120345, 7, 8191, 8191)
    assert (stats.vm_count, stats.vm_active, stats.vm_migrating) == (2, 2, 0)
    assert stats.elapsed_time == 12345.67
    assert stats.boot_time == "1764000000"
    assert stats.nics[0] == NicStats("eth0", "up", 10000, None, None, 9876543210, 1234567890, 0, 0, 3, 0,
                                     sample_time=1764001234.5)
    assert stats.nics[1] == NicStats("vnet0", "down", 1000)


def test_host_stats_with_missing_keys_and_an_int_boot_time() -> None:
    warnings: list[str] = []
    stats = parse_host_stats({"cpuIdle": "80", "bootTime": 1764000000, "memUsed": "12.5"}, warnings)
    assert stats.cpu_idle == 80.0 and stats.boot_time == "1764000000" and stats.mem_used == 12
    assert stats.nics == () and warnings == []


def test_host_stats_bad_fields_are_warned() -> None:
    warnings: list[str] = []
    stats = parse_host_stats(wire.host_stats(cpuUser={}, network=[]), warnings)
    assert stats.cpu_user == 0.0 and stats.nics == ()
    assert warnings == ["host stats: ignored invalid cpuUser, network"]


@pytest.mark.parametrize("result", [[], "x", None, True])
def test_host_stats_of_the_wrong_shape_is_invalid_data(result: object) -> None:
    with pytest.raises(InvalidData):
        parse_host_stats(result)


def test_capabilities_in_wire_form() -> None:
    caps = parse_capabilities(wire.capabilities())
    assert caps.cpu_model.startswith("Intel(R) Xeon(R)")
    assert caps.cpu_flags[:2] == ("fpu", "vme") and "model_Cascadelake-Server" in caps.cpu_flags
    assert (caps.cpu_cores, caps.cpu_sockets, caps.mem_size_mb) == (24, 2, 385419)
    assert caps.networks == ("ovirtmgmt", "storage")
    assert caps.vdsm_version == "4.50.7"
    assert caps.kvm_enabled is True
    assert caps.host_uuid == "4c4c4544-0042-3010-8051-b4c04f4e4d32"


@pytest.mark.parametrize("value, expected", [("false", False), ("True", True), (False, False), (True, True)])
def test_kvm_enabled_as_string_or_bool(value: object, expected: bool) -> None:
    assert parse_capabilities(wire.capabilities(kvmEnabled=value)).kvm_enabled is expected


def test_capabilities_of_the_wrong_shape_is_invalid_data() -> None:
    with pytest.raises(InvalidData):
        parse_capabilities([wire.capabilities()])


def test_parsing_does_not_modify_its_input() -> None:
    reply = [*wire.all_vm_stats(3), wire.down_vm(C)]
    before = copy.deepcopy(reply)
    parse_vm_stats(reply)
    assert reply == before


def test_a_parsed_report_round_trips_through_json() -> None:
    warnings: list[str] = []
    vms = parse_vm_stats(
        orjson.loads(orjson.dumps([*wire.all_vm_stats(2), wire.down_vm(C), wire.running_vm(B, status="Odd")])),
        warnings,
    )
    report = HostReport(
        host_id="h1",
        fetched_at=1764000000.25,
        stats=parse_host_stats(wire.host_stats()),
        capabilities=parse_capabilities(wire.capabilities()),
        vms=vms,
        vms_full=True,
        stats_due=True,
        warnings=tuple(warnings),
    )
    wire_form = orjson.loads(orjson.dumps(report.to_json()))
    assert HostReport.from_json(wire_form) == report


def test_disks_free_space_from_disk_stats() -> None:
    warnings: list[str] = []
    stats = parse_host_stats(wire.host_stats(diskStats={"/var/log": {"free": "51234"}, "/tmp": {"free": 800},
                                                        "/bad": {"free": "lots"}, "/odd": "x"}), warnings)
    assert stats.disks_free == (("/tmp", 800), ("/var/log", 51234))  # unusable entries: unknown, left out
    assert warnings == ["host stats: ignored invalid diskStats./bad, diskStats./odd"]


def test_each_networks_nics_from_capabilities() -> None:
    networks = {
        "ovirtmgmt": {"bridged": True, "iface": "ovirtmgmt", "ports": ["eno1", "vnet3"]},  # a VM's tap left out
        "storage": {"bridged": False, "iface": "eno2", "interface": "eno2"},
        "vm-lan": {"bridged": True, "ports": ["bond0.100"]},  # a VLAN on a bond: the bond
        "south": {"bridged": True, "southbound": "eno3.20", "ports": ["eno3.20", "vnet9"]},
        "odd": "x",
    }
    warnings: list[str] = []
    caps = parse_capabilities(wire.capabilities(networks=networks, rngSources=["random", "hwrng"]), warnings)
    assert caps.network_nics == (("ovirtmgmt", ("eno1",)), ("south", ("eno3",)), ("storage", ("eno2",)),
                                 ("vm-lan", ("bond0",)))
    assert caps.rng_sources == ("random", "hwrng")
    assert warnings == ["capabilities: ignored invalid networks.odd"]


@pytest.mark.parametrize("raw, mode, warned", [({"mode": "1"}, 1, False), ({"mode": -1}, -1, False),
                                               ({"mode": "x"}, None, True), ("1", None, True)])
def test_selinux_mode(raw: object, mode: int | None, warned: bool) -> None:
    warnings: list[str] = []
    caps = parse_capabilities({**wire.capabilities(), "selinux": raw}, warnings)
    assert caps.selinux_mode == mode
    assert bool(warnings) is warned


def test_selinux_not_reported_is_unknown() -> None:
    reply = {k: v for k, v in wire.capabilities().items() if k != "selinux"}
    assert parse_capabilities(reply).selinux_mode is None


def test_bond_slaves_from_capabilities() -> None:
    warnings: list[str] = []
    caps = parse_capabilities({**wire.capabilities(), "bondings": {"bond0": {"slaves": ["eno4", "eno3"]},
                                                                   "bond1": {"slaves": "eno5"}}}, warnings)
    assert caps.bond_slaves == (("bond0", ("eno3", "eno4")),)
    assert warnings == ["capabilities: ignored invalid bondings.bond1"]
