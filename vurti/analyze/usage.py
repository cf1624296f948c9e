"""Statistics users look at: CPU per vCPU, network usage, and the last samples of each.

oVirt (VmStatistics.updateRuntimeData, VmAnalyzer.updateInterfaceStatistics):
- VDSM's `cpuUser` + `cpuSys` are percent of one host CPU summed over the VM's vCPUs;
  the usage shown is their sum over the number of vCPUs, truncated, capped at 100. The
  engine divides by the VM's configured CPUs; vurti knows the VM through VDSM only and
  divides by its `vcpuCount` (unknown without it: no sample).
- Network usage is the busiest NIC's receive or transmit rate, in percent, capped at 100.
- Each statistics cycle appends the CPU, memory and network usage to a history that
  keeps the last `UsageHistoryLimit` (40) samples; an unknown value appends nothing.
- A VM that stops has its statistics zeroed (VmAnalyzer.resetVmStatistics): figures,
  histories and the NIC counters alike.
"""

from __future__ import annotations

from vurti.analyze.nic_rates import nic_rates
from vurti.domain.model import VmUsage, evolve
from vurti.domain.report import NicStats, VmStats

STOPPED = (VmStats(), VmUsage())


def sample(stats: VmStats, previous: VmUsage, limit: int) -> tuple[VmStats, VmUsage]:
    """One statistics cycle of a VM: its NIC rates filled in, and its usage after it."""
    nics, samples = nic_rates(stats.nics, previous.nic_samples)
    cpu = cpu_per_vcpu(stats)
    network = network_percent(nics)
    usage = VmUsage(
        usage_cpu_percent=cpu,
        usage_network_percent=network,
        cpu_usage_history=appended(previous.cpu_usage_history, cpu, limit),
        memory_usage_history=appended(previous.memory_usage_history, stats.mem_usage, limit),
        network_usage_history=appended(previous.network_usage_history, network, limit),
        nic_samples=samples,
    )
    return (evolve(stats, nics=nics) if nics != stats.nics else stats), usage


def cpu_per_vcpu(stats: VmStats) -> int | None:
    """Percent of the VM's vCPUs in use; None when VDSM did not say how many it has."""
    if not stats.vcpu_count or stats.vcpu_count < 1:
        return None
    return min(100, int((stats.cpu_user + stats.cpu_sys) / stats.vcpu_count))


def network_percent(nics: tuple[NicStats, ...]) -> int | None:
    """The busiest NIC's rate in percent of its speed; None when no rate is known."""
    rates = [r for nic in nics for r in (nic.rx_rate, nic.tx_rate) if r is not None]
    return min(100, int(max(rates))) if rates else None


def appended(history: tuple[int, ...], value: int | None, limit: int) -> tuple[int, ...]:
    """`history` with `value` last, keeping the newest `limit` samples."""
    if value is None:
        return history
    if limit <= 0:
        return ()
    return (*history, value)[-limit:]
