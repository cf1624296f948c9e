"""Canned replies in the shape real VDSM puts on the wire (vdsm-wire.md): strings for numbers."""

from __future__ import annotations

import uuid
from typing import Any

STATUS_TIME = 2**31 - 1 + 5_000_123  # monotonic ms + INT_MAX, as a string on the wire


def running_vm(vm_id: str, index: int = 0, **overrides: Any) -> dict[str, Any]:
    vm: dict[str, Any] = {
        "vmId": vm_id,
        "vmName": f"vm-{index}",
        "status": "Up",
        "statusTime": str(STATUS_TIME + index),
        "cpuUser": "12.50",
        "cpuSys": "1.25",
        "cpuUsage": "123456789000",
        "cpuActual": True,
        "elapsedTime": "3600",
        "monitorResponse": "0",
        "memUsage": "42",
        "vcpuCount": "2",
        "vcpuPeriod": 100000,
        "vcpuQuota": "-1",
        "timeOffset": "0",
        "guestCPUCount": -1,
        "kvmEnable": "true",
        "acpiEnable": "true",
        "hash": "-4820192837465",
        "clientIp": "",
        "guestIPs": "10.0.0.5 10.0.0.6",
        "guestFQDN": f"vm-{index}.example.org",
        "session": "Unknown",
        "displayInfo": [{"type": "spice", "port": "5900", "tlsPort": "-1", "ipAddress": "10.0.0.1"}],
        "balloonInfo": {
            "balloon_cur": "4194304",
            "balloon_target": "4194304",
            "balloon_min": "1048576",
            "balloon_max": "4194304",
            "ballooning_enabled": True,
        },
        "memoryStats": {
            "mem_total": 4030000,
            "mem_free": 2100000,
            "mem_unused": 1900000,
            "swap_in": 0,
            "swap_out": 0,
            "majflt": 0,
            "minflt": 12,
            "pageflt": 12,
        },
        "network": {
            "vnet0": {
                "name": "vnet0",
                "macAddr": "56:6f:1a:2b:00:01",
                "state": "up",
                "speed": "1000",
                "rx": "123456",
                "tx": "654321",
                "rxErrors": "0",
                "txErrors": "1",
                "rxDropped": "2",
                "txDropped": "0",
                "sampleTime": 4300.12,
            }
        },
        "disks": {
            "vda": {
                "readRate": "1024.0",
                "writeRate": "2048.5",
                "readLatency": "2000000",
                "writeLatency": "500000.0",
                "flushLatency": "0",
                "apparentsize": "10737418240",
                "truesize": "2147483648",
                "readOps": "10",
                "writeOps": "20",
                "readBytes": "4096",
                "writtenBytes": "8192",
                "imageID": str(uuid.UUID(int=index + 1)),
            }
        },
        "vmJobs": {},
    }
    vm.update(overrides)
    return vm


def down_vm(
    vm_id: str, exit_code: Any = 1, exit_reason: Any = 1, message: str = "Lost connection with qemu process"
) -> dict[str, Any]:
    """What VDSM keeps for a Down VM until VM.destroy: exit info and little else."""
    return {
        "vmId": vm_id,
        "status": "Down",
        "statusTime": str(STATUS_TIME + 99),
        "exitCode": exit_code,
        "exitReason": exit_reason,
        "exitMessage": message,
        "timeOffset": "0",
    }


def migration_source(vm_id: str, progress: int = 37) -> dict[str, Any]:
    return running_vm(vm_id, 3, status="Migration Source", migrationProgress=progress)


def postcopy_paused(vm_id: str) -> dict[str, Any]:
    """During post-copy the source reports Paused with pauseCode POSTCOPY and few keys."""
    return {"vmId": vm_id, "status": "Paused", "statusTime": str(STATUS_TIME + 7), "pauseCode": "POSTCOPY"}


def vm_ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=0xABC000 + i)) for i in range(n)]


def all_vm_stats(n: int = 20) -> list[dict[str, Any]]:
    return [running_vm(vm_id, i) for i, vm_id in enumerate(vm_ids(n))]


def vm_list(n: int = 3) -> list[dict[str, Any]]:
    return [{"vmId": vm_id, "status": "Up", "statusTime": str(STATUS_TIME + i)} for i, vm_id in enumerate(vm_ids(n))]


def host_stats(**overrides: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "cpuUser": "3.41",
        "cpuSys": "1.10",
        "cpuIdle": "95.49",
        "cpuLoad": "0.42",
        "cpuUserVdsmd": "0.5",
        "cpuSysVdsmd": "0.2",
        "memFree": 120345,
        "memUsed": "7",
        "memShared": 0,
        "swapFree": 8191,
        "swapTotal": 8191,
        "vmCount": 2,
        "vmActive": 2,
        "vmMigrating": 0,
        "incomingVmMigrations": 0,
        "outgoingVmMigrations": 0,
        "elapsedTime": "12345.67",
        "bootTime": "1764000000",
        "anonHugePages": "1024",
        "netConfigDirty": "False",
        "ksmState": False,
        "ksmPages": 100,
        "ksmCpu": 0,
        "dateTime": "2026-11-24T10:00:00 GMT",
        "rxDropped": "0",
        "txDropped": "0",
        "v2vJobs": {},
        "network": {
            "eth0": {
                "name": "eth0",
                "state": "up",
                "speed": "10000",
                "rx": "9876543210",
                "tx": "1234567890",
                "rxErrors": "0",
                "txErrors": "0",
                "rxDropped": "3",
                "txDropped": "0",
                "sampleTime": 1764001234.5,
            },
            "vnet0": {"name": "vnet0", "state": "down", "speed": "1000", "rx": "0", "tx": "0"},
        },
    }
    stats.update(overrides)
    return stats


def capabilities(**overrides: Any) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "cpuModel": "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        "cpuFlags": "fpu,vme,de,pse,vmx,model_Cascadelake-Server,model_Skylake-Server",
        "cpuCores": "24",
        "cpuSockets": "2",
        "cpuThreads": "48",
        "cpuSpeed": "3000.000",
        "memSize": "385419",
        "software_version": "4.50.7",
        "software_revision": "1",
        "kvmEnabled": "true",
        "uuid": "4c4c4544-0042-3010-8051-b4c04f4e4d32",
        "networks": {"ovirtmgmt": {"bridged": True, "mtu": "1500"}, "storage": {"bridged": False, "mtu": "9000"}},
        "vncEncrypted": False,
        "clusterLevels": ["4.6", "4.7"],
        "netConfigDirty": "False",
    }
    caps.update(overrides)
    return caps
