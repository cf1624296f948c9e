"""Host.getStats and Host.getCapabilities of a simulated host, shaped like VDSM's."""

from __future__ import annotations

import random
import time
from typing import Any

from vurti.domain.status import VmStatus
from vurti.sim.conditions import capabilities_with, stats_with
from vurti.sim.fleet import Host
from vurti.sim.wire import noise

HOST_MEM_MB = 262_144
HOST_THREADS = 32
SWAP_MB = 16_384
CPU_FLAGS = (
    "fpu,vme,de,pse,tsc,msr,pae,mce,cx8,apic,sep,mtrr,pge,mca,cmov,pat,pse36,clflush,mmx,fxsr,sse,sse2,ss,ht,"
    "syscall,nx,pdpe1gb,rdtscp,lm,constant_tsc,rep_good,nopl,xtopology,cpuid,pni,pclmulqdq,vmx,ssse3,fma,cx16,"
    "pcid,sse4_1,sse4_2,x2apic,movbe,popcnt,aes,xsave,avx,f16c,rdrand,hypervisor,lahf_lm,abm,fsgsbase,bmi1,avx2,"
    "smep,bmi2,erms,invpcid,avx512f,avx512dq,rdseed,adx,smap,clflushopt,clwb,avx512cd,avx512bw,avx512vl,xsaveopt,"
    "spec_ctrl,intel_stibp,arch_capabilities,model_Skylake-Server,model_Skylake-Server-IBRS,model_Cascadelake-Server,"
    "model_Broadwell,model_Haswell,model_SandyBridge,model_Nehalem,model_Westmere,model_IvyBridge,model_Conroe,"
    "model_Penryn"
)
STORAGE_DOMAIN = "0f6e4b92-3f0e-4a3b-9d8a-3f4c1c2b7a11"


def _nic(name: str, rx: int, tx: int, speed: str = "10000") -> dict[str, Any]:
    return {
        "name": name, "state": "up", "speed": speed, "rx": str(rx), "tx": str(tx), "rxErrors": "0",
        "txErrors": "0", "rxDropped": "0", "txDropped": "0",
        "sampleTime": round(time.monotonic(), 2),
    }


def host_stats(host: Host, epoch: int) -> dict[str, Any]:
    seed = host.index * 7919 + 17
    recs = host.records.values()
    running = [r for r in recs if r.status is not VmStatus.Down]
    active = sum(1 for r in running if r.status is VmStatus.Up)
    outgoing = sum(1 for r in running if r.migration is not None and r.migration.source is r)
    incoming = sum(1 for r in running if r.status is VmStatus.MigratingTo)
    uptime = host.now_ms() / 1000.0
    used_mb = 8_192 + sum(r.spec.mem_mb for r in running)
    mem_free = max(1_024, HOST_MEM_MB - used_mb)
    load = min(95.0, 2.0 + 2.5 * len(running) * noise(seed, epoch, 0))
    network = {
        "ovirtmgmt": _nic("ovirtmgmt", int(uptime * 90_000), int(uptime * 40_000)),
        "eno1": _nic("eno1", int(uptime * 120_000), int(uptime * 60_000)),
        "eno2": _nic("eno2", int(uptime * 5_000), int(uptime * 2_000)),
    }
    for r in running:
        for _n in range(r.spec.nnics):
            name = f"vnet{len(network) - 3}"
            network[name] = _nic(name, int(uptime * 1_000), int(uptime * 300), "1000")
    cores = {}
    for c in range(HOST_THREADS):
        u = load * (0.5 + noise(seed, epoch, 10 + c))
        cores[str(c)] = {"cpuUser": f"{min(u, 99.0):.2f}", "cpuSys": f"{u / 8:.2f}",
                         "cpuIdle": f"{max(0.0, 100 - u - u / 8):.2f}", "nodeIndex": 0 if c < HOST_THREADS // 2 else 1}
    stats: dict[str, Any] = {
        "cpuUser": f"{load:.2f}", "cpuSys": f"{load / 8:.2f}", "cpuIdle": f"{100 - load - load / 8:.2f}",
        "cpuLoad": f"{load * HOST_THREADS / 100:.2f}", "cpuUserVdsmd": "0.80", "cpuSysVdsmd": "0.27",
        "memFree": mem_free, "memAvailable": mem_free, "memCommitted": used_mb, "memShared": 0,
        "memUsed": str(int(100 * (HOST_MEM_MB - mem_free) / HOST_MEM_MB)),
        "swapTotal": SWAP_MB, "swapFree": SWAP_MB, "anonHugePages": str(len(running) * 2_048),
        "vmCount": len(running), "vmActive": active, "vmMigrating": outgoing + incoming,
        "incomingVmMigrations": incoming, "outgoingVmMigrations": outgoing,
        "elapsedTime": f"{uptime:.2f}", "bootTime": str(host.boot_time),
        "dateTime": time.strftime("%Y-%m-%dT%H:%M:%S GMT", time.gmtime()),
        "network": network, "rxDropped": "0", "txDropped": "0", "cpuStatistics": cores,
        "numaNodeMemFree": {
            str(n): {"memFree": str(mem_free // 2), "memPercent": int(100 * (HOST_MEM_MB - mem_free) / HOST_MEM_MB),
                     "hugepages": {"2048": {"freePages": "0"}, "1048576": {"freePages": "0"}}}
            for n in (0, 1)
        },
        "ksmState": False, "ksmPages": 100, "ksmCpu": 0, "ksmMergeAcrossNodes": True,
        "momStatus": "active", "thpState": "always", "netConfigDirty": "False",
        "haScore": 0, "haStats": {"configured": False, "score": 0, "localMaintenance": False,
                                  "globalMaintenance": False, "active": False},
        "storageDomains": {STORAGE_DOMAIN: {"acquired": True, "actual": True,
                                            "lastCheck": f"{3 * noise(seed, epoch, 1):.1f}",
                                            "valid": True, "code": 0, "version": 5, "delay": "0.000412"}},
        "diskStats": {"/var/log": {"free": "51234"}, "/var/log/core": {"free": "51234"},
                      "/var/run/vdsm/": {"free": "15800"}, "/tmp": {"free": "15800"}},
        "v2vJobs": {}, "multipathHealth": {}, "hugepages": {},
    }
    if host.nic_states or host.usage:
        stats = stats_with(stats, host.nic_states, host.usage, uptime, HOST_MEM_MB)
    return stats


def capabilities(host: Host) -> dict[str, Any]:
    rng = random.Random(host.uuid)
    mac = f"00:1a:4a:{rng.randrange(256):02x}:{rng.randrange(256):02x}:{rng.randrange(256):02x}"
    addr = f"10.{host.cluster % 250}.{host.index // 250 % 250}.{host.index % 250 + 1}"
    bridged = {
        "dhcpv4": False, "dhcpv6": False, "mtu": "1500", "ipv6gateway": "::", "gateway": "10.0.0.1",
        "ipv4defaultroute": True, "ipv6addrs": [], "ports": ["eno1"], "netmask": "255.255.0.0", "stp": "off",
        "ipv4addrs": [f"{addr}/16"], "addr": addr, "bridged": True, "iface": "ovirtmgmt", "switch": "legacy",
        "ipv6autoconf": False,
    }
    nic = {"dhcpv4": False, "dhcpv6": False, "ipv6gateway": "::", "ipv6addrs": [], "hwaddr": mac, "speed": 10000,
           "ipv4addrs": [], "mtu": "1500", "netmask": "", "addr": ""}
    caps: dict[str, Any] = {
        "uuid": host.uuid, "cpuModel": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "cpuFlags": CPU_FLAGS,
        "cpuCores": str(HOST_THREADS // 2), "cpuSockets": "2", "cpuThreads": str(HOST_THREADS),
        "onlineCpus": ",".join(str(c) for c in range(HOST_THREADS)), "cpuSpeed": "2100.000",
        "memSize": str(HOST_MEM_MB), "reservedMem": "321", "guestOverhead": "65",
        "kvmEnabled": "true", "vmTypes": ["kvm"], "hostdevPassthrough": "false",
        "version_name": "Snow Man", "software_version": host.vdsm_version, "software_revision": "1",
        "supportedENGINEs": ["4.2", "4.3", "4.4", "4.5"], "clusterLevels": ["4.2", "4.3", "4.4", "4.5", "4.6", "4.7"],
        "packages2": {
            "vdsm": {"version": host.vdsm_version, "release": "1.el9"}, "libvirt": {"version": "10.0.0", "release": "6.el9"},
            "qemu-kvm": {"version": "8.2.0", "release": "11.el9"}, "kernel": {"version": "5.14.0", "release": "427.el9"},
        },
        "operatingSystem": {"name": "RHEL", "release": "1.el9", "version": "9.4", "pretty_name": "CentOS Stream 9"},
        "networks": {
            "ovirtmgmt": bridged,
            "storage": {"interface": "eno2", "bridged": False},
            "vm-lan": dict(bridged, iface="vm-lan", ports=["eno2.100"], ipv4addrs=[], addr="", gateway="",
                           ipv4defaultroute=False),
        },
        "bridges": {"ovirtmgmt": bridged},
        "nics": {"eno1": dict(nic), "eno2": dict(nic, hwaddr=mac[:-2] + "ff")},
        "bondings": {}, "vlans": {},
        "nameservers": ["10.0.0.2"], "supportsIPv6": True, "netConfigDirty": "False",
        "lastClientIface": "ovirtmgmt", "ISCSIInitiatorName": f"iqn.1994-05.com.redhat:{host.uuid[:12]}",
        "HBAInventory": {"FC": [], "iSCSI": [{"InitiatorName": f"iqn.1994-05.com.redhat:{host.uuid[:12]}"}]},
        "emulatedMachines": ["pc-q35-rhel9.4.0", "pc-i440fx-rhel7.6.0", "q35", "pc"],
        "rngSources": ["random", "hwrng"], "selinux": {"mode": "1"}, "kdumpStatus": 0, "autoNumaBalancing": 1,
        "numaNodes": {str(n): {"cpus": list(range(n * 16, n * 16 + 16)), "totalMemory": str(HOST_MEM_MB // 2),
                               "hugepages": {"2048": {"totalPages": "0"}}} for n in (0, 1)},
        "numaNodeDistance": {"0": [10, 21], "1": [21, 10]},
        "cpuTopology": [{"cpu_id": c, "numa_cell_id": c // 16, "socket_id": c // 16, "die_id": 0, "core_id": c % 16}
                        for c in range(HOST_THREADS)],
        "vdsmToCpusAffinity": [1], "additionalFeatures": ["libgfapi_supported", "GLUSTER_SNAPSHOT"],
        "vncEncrypted": False, "fipsEnabled": False, "backupEnabled": True, "liveMerge": "true",
        "liveSnapshot": "true", "kernelArgs": "BOOT_IMAGE=(hd0,msdos1)/vmlinuz ro crashkernel=auto",
        "realtimeKernel": False, "nestedVirtualization": False, "hostedEngineDeployed": False,
        "boot_uuid": str(host.uuid), "tscFrequency": "2095078000", "tscScaling": False,
        "ovnConfigured": False, "zerocopy_migrations": True, "hooks": {},
        "supported_block_size": {"FCP": [512], "GLUSTERFS": [0, 512, 4096], "ISCSI": [512],
                                 "LOCALFS": [0, 512, 4096], "NFS": [512], "POSIXFS": [512]},
        "domain_versions": [0, 2, 3, 4, 5], "hugepages": [1048576, 2048],
    }
    return capabilities_with(caps, host.caps) if host.caps else caps
