"""Statistics users look at: CPU per vCPU, usage histories, statistics zeroed when a VM stops."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, POLICY, down, report, run, snapshot, up, vm
from vurti.analyze import apply_analysis
from vurti.analyze.usage import appended, cpu_per_vcpu, network_percent
from vurti.domain.model import NicSample, VmUsage
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import NicStats, VmStats
from vurti.domain.status import VmStatus

CPU_CASES = [
    # cpuUser, cpuSys, vcpuCount, expected percent per vCPU
    ("one vCPU", 30.0, 10.0, 1, 40),
    ("four vCPUs share the sum", 300.0, 40.0, 4, 85),
    ("truncated, not rounded", 10.0, 9.9, 2, 9),
    ("capped at 100", 250.0, 10.0, 2, 100),
    ("vCPU count unknown (no libvirt sample yet)", 30.0, 10.0, None, None),
    ("vCPU count 0 is unknown too", 30.0, 10.0, 0, None),
]


@pytest.mark.parametrize("user, sys, vcpus, expected", [c[1:] for c in CPU_CASES], ids=[c[0] for c in CPU_CASES])
def test_cpu_per_vcpu(user, sys, vcpus, expected):
    assert cpu_per_vcpu(VmStats(cpu_user=user, cpu_sys=sys, vcpu_count=vcpus)) == expected


def _nic(name: str, rx: float | None, tx: float | None) -> NicStats:
    return NicStats(name, "up", 1000, rx_rate=rx, tx_rate=tx)


NETWORK_CASES = [
    ("no NICs: unknown", (), None),
    ("no rate known yet (first sample)", (_nic("vnet0", None, None),), None),
    ("the busiest direction", (_nic("vnet0", 3.5, 12.9),), 12),
    ("the busiest NIC", (_nic("vnet0", 3.0, 1.0), _nic("vnet1", 0.0, 55.0)), 55),
    ("capped at 100", (_nic("vnet0", 100.0, 0.0),), 100),
]


@pytest.mark.parametrize("nics, expected", [c[1:] for c in NETWORK_CASES], ids=[c[0] for c in NETWORK_CASES])
def test_network_percent(nics, expected):
    assert network_percent(nics) == expected


HISTORY_CASES = [
    ("first sample", (), 5, 3, (5,)),
    ("appended last", (1, 2), 3, 3, (1, 2, 3)),
    ("the oldest falls out at the limit", (1, 2, 3), 4, 3, (2, 3, 4)),
    ("unknown appends nothing", (1, 2), None, 3, (1, 2)),
    ("limit 0 keeps nothing", (1, 2), 3, 0, ()),
]


@pytest.mark.parametrize("history, value, limit, expected", [c[1:] for c in HISTORY_CASES],
                         ids=[c[0] for c in HISTORY_CASES])
def test_history(history, value, limit, expected):
    assert appended(history, value, limit) == expected


def _cycle(snap, cpu: float, mem: int, status_time: int, at: float, vcpus: int | None = 2):
    stats = VmStats(cpu_user=cpu, cpu_sys=0.0, mem_usage=mem, vcpu_count=vcpus,
                    nics=(NicStats("vnet0", "up", 1000, rx_bytes=status_time * 125_000_000, sample_time=at),))
    analysis = run(snap, report((up(stats=stats, status_time=status_time),), stats_due=True, fetched_at=at), now=at)
    return analysis, apply_analysis(snap, analysis)


def test_history_accumulates_over_statistics_cycles_and_keeps_the_last_40():
    snap = snapshot(vms=(vm(),))
    for i in range(45):
        analysis, snap = _cycle(snap, cpu=float(2 * i), mem=i, status_time=i + 1, at=NOW + 15 * i)
    [(_, usage)] = analysis.vm_usage
    assert usage.cpu_usage_history == tuple(range(5, 45))  # (2i / 2 vCPUs), the newest 40
    assert usage.memory_usage_history == tuple(range(5, 45))
    assert len(usage.network_usage_history) == 40  # rates from the second sample on: 1 Gbit in 15 s
    assert usage.usage_cpu_percent == 44 and usage.usage_network_percent == 6
    assert snap.vm_usage["v1"] == usage


def test_history_limit_is_the_policys():
    snap = snapshot(vms=(vm(),))
    policy = MonitoringPolicy(usage_history_limit=2)
    for i in range(4):
        stats = VmStats(cpu_user=float(i), vcpu_count=1, mem_usage=i)
        analysis = run(snap, report((up(stats=stats, status_time=i + 1),), stats_due=True, fetched_at=NOW + i),
                       now=NOW + i, policy=policy)
        snap = apply_analysis(snap, analysis)
    assert snap.vm_usage["v1"].cpu_usage_history == (2, 3)


def test_no_usage_sample_outside_statistics_cycles():
    snap = snapshot(vms=(vm(),))
    analysis = run(snap, report((up(stats=VmStats(cpu_user=10.0, vcpu_count=1), status_time=1),)))
    assert analysis.vm_stats == () and analysis.vm_usage == ()


def test_unknown_vcpu_count_keeps_the_cpu_history():
    snap = snapshot(vms=(vm(),))
    snap.vm_usage["v1"] = VmUsage(cpu_usage_history=(7,), memory_usage_history=(3,))
    analysis, _ = _cycle(snap, cpu=50.0, mem=4, status_time=1, at=NOW, vcpus=None)
    [(_, usage)] = analysis.vm_usage
    assert usage.usage_cpu_percent is None
    assert usage.cpu_usage_history == (7,) and usage.memory_usage_history == (3, 4)


def test_history_survives_a_migration_but_the_other_hosts_counters_do_not():
    snap = snapshot(vms=(vm(host_id="h2", status=VmStatus.MigratingFrom, migrating_to_host="h1"),))
    snap.vm_usage["v1"] = VmUsage(cpu_usage_history=(9,), nic_samples=(NicSample("vnet0", 0, 0, 1.0),))
    analysis, _ = _cycle(snap, cpu=20.0, mem=5, status_time=7, at=NOW)
    [(_, usage)] = analysis.vm_usage
    assert usage.cpu_usage_history == (9, 10)
    assert usage.usage_network_percent is None  # no earlier sample of this host's clock
    assert usage.nic_samples == (NicSample("vnet0", 7 * 125_000_000, 0, NOW),)


UP_WITH_HISTORY = VmUsage(usage_cpu_percent=40, usage_network_percent=3, cpu_usage_history=(40,),
                          memory_usage_history=(20,), network_usage_history=(3,),
                          nic_samples=(NicSample("vnet0", 1, 1, 1.0),))
ZEROED_CASES = [
    # a report that stops the VM (or not), whether statistics are due, zeroed?
    ("Down reported", (down(status_time=5),), False, True),
    ("Down reported on a statistics cycle", (down(status_time=5),), True, True),
    ("hibernated: Suspended", None, False, True),
    ("disappeared from the full list", (), False, True),
    ("still running, no statistics cycle", (up(status_time=5),), False, False),
    ("paused: not stopped", (up(status=VmStatus.Paused, status_time=5),), False, False),
]


@pytest.mark.parametrize("vms, stats_due, zeroed", [c[1:] for c in ZEROED_CASES], ids=[c[0] for c in ZEROED_CASES])
def test_statistics_zeroed_when_a_vm_stops(vms, stats_due, zeroed):
    before = vm(status=VmStatus.SavingState) if vms is None else vm()
    snap = snapshot(vms=(before,))
    snap.vm_usage["v1"] = UP_WITH_HISTORY
    analysis = run(snap, report(vms if vms is not None else (down(status_time=5),), stats_due=stats_due))
    if zeroed:
        assert analysis.vm_stats == (("v1", VmStats()),)
        assert analysis.vm_usage == (("v1", VmUsage()),)
        assert apply_analysis(snap, analysis).vm_usage["v1"] == VmUsage()
    else:
        assert analysis.vm_usage == ()


def test_a_vm_already_down_is_not_zeroed_again():
    snap = snapshot(vms=(vm(status=VmStatus.Down, host_id=None),))
    analysis = run(snap, report((down(status_time=5),)))
    assert analysis.vm_usage == ()


def test_policy_default_is_ovirts_usage_history_limit():
    assert POLICY.usage_history_limit == 40
