"""VM records rendered the way VDSM puts them on the wire (see vdsm-wire.md).

Statistics are a function of the VM's noise seed, the statistics epoch (VDSM
samples every 15 s) and the VM's elapsed time, so nothing is stored per VM and
a host's rendered list can be cached until its state or the epoch changes.
`statusTime` is the time of the report, not of the change: cached renderings
keep a placeholder that is replaced by the host's clock on every reply.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from vurti.domain.status import VM_STATUS_TO_VDSM, VmStatus
from vurti.sim.devices import devices, vm_jobs
from vurti.sim.fleet import Host, Record

STATS_PERIOD = 15  # ticks between statistics samples, as VDSM's vm_sample_interval
PLACEHOLDER = "@@statusTime@@"
PLACEHOLDER_JSON = b'"' + PLACEHOLDER.encode() + b'"'
UNSAMPLED = frozenset({VmStatus.WaitForLaunch, VmStatus.MigratingTo, VmStatus.RestoringState})
DISK_NAMES = ("vda", "vdb", "vdc")


def noise(seed: int, epoch: int, k: int) -> float:
    """A cheap deterministic value in [0, 1) for (VM, epoch, figure)."""
    x = (seed * 0x9E3779B1 + epoch * 0x85EBCA77 + k * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x / 4294967296.0


def _mix64(x: int) -> int:
    """splitmix64: spreads a small seed over 64 bits."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def vdsm_status(rec: Record) -> str:
    return VM_STATUS_TO_VDSM[rec.status]


def down_stats(rec: Record, status_time: Any) -> dict[str, Any]:
    return {
        "vmId": rec.spec.vm_id, "status": "Down", "statusTime": status_time,
        "exitCode": rec.exit_code, "exitReason": rec.exit_reason, "exitMessage": rec.exit_message,
        "timeOffset": "0",
    }


def postcopy_stats(rec: Record, status_time: Any) -> dict[str, Any]:
    """Source during post-copy: VDSM leaves the figures to the destination."""
    mig = rec.migration
    return {
        "statusTime": status_time, "status": "Paused", "vmId": rec.spec.vm_id, "vmName": rec.spec.name,
        "vmType": "kvm", "kvmEnable": "true", "acpiEnable": "true",
        "migrationProgress": mig.progress if mig else 0, "pauseCode": rec.pause_code or "POSTCOPY",
    }


def vm_stats(rec: Record, status_time: Any, epoch: int, now: float | None = None) -> dict[str, Any]:
    """One record as Host.getAllVmStats / VM.getStats show it."""
    if rec.status is VmStatus.Down:
        return down_stats(rec, status_time)
    mig = rec.migration
    if mig is not None and mig.phase == "postcopy" and rec is mig.source:
        return postcopy_stats(rec, status_time)
    spec = rec.spec
    now = time.time() if now is None else now
    elapsed = max(0, int(now - rec.started))
    seed = spec.noise
    sampled = rec.status not in UNSAMPLED
    load = 0.02 + 0.6 * noise(seed, epoch, 0) if sampled else 0.0
    st: dict[str, Any] = {
        "vmId": spec.vm_id, "vmName": spec.name, "status": VM_STATUS_TO_VDSM[rec.status],
        "statusTime": status_time, "vmType": "kvm", "kvmEnable": "true", "acpiEnable": "true",
        "elapsedTime": str(elapsed), "monitorResponse": "0" if rec.monitor_ok else "-1",
        "clientIp": "", "timeOffset": "0",
        # Percent of one host CPU summed over the vCPUs (vmstats.cpu): up to 100 per vCPU.
        "cpuUser": "%.2f" % (load * 85.0 * spec.ncpu) if sampled else "0.0",
        "cpuSys": "%.2f" % (load * 9.0 * spec.ncpu) if sampled else "0.0",
        "cpuUsage": str(int(elapsed * spec.ncpu * load * 1e9)) if sampled else "0.0",
        "cpuActual": sampled,
        "memUsage": str(int(15 + 70 * noise(seed, epoch, 1))) if sampled else "0",
        "guestCPUCount": spec.ncpu if seed & 1 else -1,
        "guestIPs": "", "guestFQDN": "", "username": "Unknown", "session": "Unknown", "appsList": [],
        "displayInfo": [{"type": "vnc", "port": str(spec.vnc_port), "tlsPort": "-1", "ipAddress": "0"}],
        "hash": devices(spec)[1],
        "vcpuQuota": "-1", "vcpuPeriod": 100000,
    }
    if rec.pause_code is not None and rec.status is VmStatus.Paused:
        st["pauseCode"] = rec.pause_code
    if mig is not None and rec is mig.source:
        st["migrationProgress"] = mig.progress
    if rec.watchdog is not None:
        st["watchdogEvent"] = rec.watchdog
    if sampled:
        st["vmJobs"] = vm_jobs(rec)  # VDSM: absent until the jobs are known, then a map (maybe empty)
        _sampled(st, rec, elapsed, epoch)
    return st


def _sampled(st: dict[str, Any], rec: Record, elapsed: int, epoch: int) -> None:
    """The keys libvirt sampling adds: absent while the VM has no samples."""
    spec = rec.spec
    seed = spec.noise
    mem_kib = spec.mem_mb * 1024
    sample_time = round(time.monotonic(), 2)
    if spec.nnics:
        nets = {}
        for n in range(spec.nnics):
            rate = 2_000 + (seed >> (n + 3)) % 400_000
            rx, tx = elapsed * rate, elapsed * rate // 3
            nets[f"vnet{n}"] = {
                "name": f"vnet{n}", "state": "up", "speed": "1000",
                "macAddr": f"56:6f:{(seed >> 24) & 255:02x}:{(seed >> 16) & 255:02x}:{(seed >> 8) & 255:02x}:{n:02x}",
                "rx": str(rx), "tx": str(tx), "rxErrors": "0", "txErrors": "0",
                "rxDropped": str(rx // 10_000_000), "txDropped": "0", "sampleTime": sample_time,
            }
        st["network"] = nets
    disks = {}
    for d in range(spec.ndisks):
        rrate = 10_000 + (seed >> (d + 5)) % 2_000_000
        read, written = elapsed * rrate, elapsed * rrate // 2
        disks[DISK_NAMES[d]] = {
            "readBytes": str(read), "writtenBytes": str(written),
            "readOps": str(read // 8192), "writeOps": str(written // 8192),
            "readRate": str(float(int(rrate * (0.5 + noise(seed, epoch, 10 + d))))),
            "writeRate": str(float(int(rrate * 0.5 * noise(seed, epoch, 20 + d)))),
            "readLatency": str(float(100_000 + (seed >> d) % 900_000)), "writeLatency": "250000.0",
            "flushLatency": "90000.0", "apparentsize": str(10 * 2**30 * (d + 1)),
            "truesize": str(3 * 2**30 * (d + 1) + (seed % 2**28)),
            "imageID": str(uuid.UUID(int=_mix64(seed * 4 + d) << 64 | _mix64(seed * 4 + d + 2**40), version=4)),
        }
    st["disks"] = disks
    st["balloonInfo"] = {
        "balloon_max": str(mem_kib), "balloon_min": str(mem_kib // 2), "balloon_cur": str(mem_kib),
        "balloon_target": str(mem_kib), "ballooning_enabled": True,
    }
    unused = int(mem_kib * (0.1 + 0.5 * noise(seed, epoch, 2)))
    majflt = int(5 * noise(seed, epoch, 3))
    minflt = int(900 * noise(seed, epoch, 4))
    st["memoryStats"] = {
        "mem_total": str(mem_kib - 120_000), "mem_unused": str(unused), "mem_free": str(unused + mem_kib // 8),
        "swap_in": 0, "swap_out": 0, "majflt": majflt, "minflt": minflt, "pageflt": majflt + minflt,
    }
    st["vcpuCount"] = str(spec.ncpu)


def short_row(rec: Record, status_time: Any) -> dict[str, Any]:
    """Host.getVMList / getVMFullList rows: only vmId, status and statusTime."""
    return {"vmId": rec.spec.vm_id, "status": VM_STATUS_TO_VDSM[rec.status], "statusTime": status_time}


# -- cached renderings with the statusTime spliced in -------------------------------


def _chunks(result: Any) -> list[bytes]:
    return orjson.dumps(result).split(PLACEHOLDER_JSON)


def splice(chunks: list[bytes], status_time: int) -> bytes:
    return (b'"%d"' % status_time).join(chunks)


def vm_list_chunks(host: Host) -> list[bytes]:
    cache = host.list_cache
    if cache is not None and cache[0] == host.version:
        return cache[1]
    chunks = _chunks([short_row(rec, PLACEHOLDER) for rec in host.records.values()])
    host.list_cache = (host.version, chunks)
    return chunks


def all_stats_chunks(host: Host, epoch: int, use_cache: bool = True) -> list[bytes]:
    key = (host.version, epoch)
    cache = host.stats_cache
    if use_cache and cache is not None and cache[0] == key:
        return cache[1]
    now = time.time()
    chunks = _chunks([vm_stats(rec, PLACEHOLDER, epoch, now) for rec in host.records.values()])
    if use_cache:
        host.stats_cache = (key, chunks)
    return chunks


def status_details(rec: Record) -> dict[str, Any]:
    """The `|virt|VM_status|` event body of one VM (vm.py send_status_event)."""
    if rec.status is VmStatus.Down:
        d = down_stats(rec, None)
        del d["statusTime"]
        return d
    mig = rec.migration
    status = "Paused" if mig is not None and mig.phase == "postcopy" and rec is mig.source else vdsm_status(rec)
    details: dict[str, Any] = {
        "status": status, "elapsedTime": str(max(0, int(time.time() - rec.started))),
        "monitorResponse": "0" if rec.monitor_ok else "-1", "clientIp": "", "timeOffset": "0",
    }
    if rec.pause_code is not None and status == "Paused":
        details["pauseCode"] = rec.pause_code
    return details
