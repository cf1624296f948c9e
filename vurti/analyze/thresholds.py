"""Host usage over its thresholds (HostMonitoring.checkVds*Threshold, alertIfLowDiskSpaceOnHost).

On statistics cycles: CPU (user + system), memory (the cluster's percentage, or its
free-MB threshold), swap (used percentage, or free swap under the threshold less 2%),
each NIC's receive or transmit rate, and the free space of the host's local disks
(critical, else low). Each alert goes through the flood regulator (flood.py).
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.analyze.flood import alert_key, regulate
from vurti.domain.events import HostThresholdExceeded
from vurti.domain.model import Cluster, HostState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostStats

SWAP_SLACK = 0.98  # oVirt alerts on free swap only below 98% of its threshold


def usage_alerts(cluster: Cluster, stats: HostStats, policy: MonitoringPolicy) -> list[tuple[str, float, float, str]]:
    """(alert, value, threshold, subject) for every figure over its threshold: pure arithmetic."""
    alerts: list[tuple[str, float, float, str]] = []
    cpu = min(stats.cpu_user + stats.cpu_sys, 100.0)
    if cpu > policy.max_cpu_used_percent:
        alerts.append(("cpu", round(cpu, 2), policy.max_cpu_used_percent, ""))
    if cluster.min_free_memory_mb is not None:
        if stats.mem_free < cluster.min_free_memory_mb:
            alerts.append(("low_memory", stats.mem_free, cluster.min_free_memory_mb, ""))
    else:
        limit = cluster.max_memory_used_percent
        limit = policy.max_memory_used_percent if limit is None else limit
        if stats.mem_used > limit:
            alerts.append(("memory", stats.mem_used, limit, ""))
    if stats.swap_total > 0:
        if stats.swap_free < round(policy.min_free_swap_mb * SWAP_SLACK):
            alerts.append(("low_swap", stats.swap_free, policy.min_free_swap_mb, ""))
        else:
            used = round(100.0 * (stats.swap_total - stats.swap_free) / stats.swap_total, 2)
            if used > policy.max_swap_used_percent:
                alerts.append(("swap", used, policy.max_swap_used_percent, ""))
    for nic in stats.nics:
        if nic.name.startswith("vnet"):  # a VM's tap: the VM's figure, not the host's
            continue
        rate = max((r for r in (nic.rx_rate, nic.tx_rate) if r is not None), default=None)
        if rate is not None and int(rate) > policy.max_network_used_percent:
            alerts.append(("network", round(rate, 2), policy.max_network_used_percent, nic.name))
    critical = [(p, f) for p, f in stats.disks_free if f <= policy.disk_critical_free_mb]
    low = [(p, f) for p, f in stats.disks_free if policy.disk_critical_free_mb < f <= policy.disk_low_free_mb]
    for alert, disks, limit in (("disk_critical", critical, policy.disk_critical_free_mb),
                                ("disk_low", low, policy.disk_low_free_mb)):
        if disks:
            alerts.append((alert, min(f for _, f in disks), limit, ", ".join(p for p, _ in disks)))
    return alerts


def check_thresholds(
    work: Work, cluster: Cluster, state: HostState, stats: HostStats, policy: MonitoringPolicy
) -> HostState:
    """Raise the alerts the flood regulator lets through; remember when."""
    alerts = usage_alerts(cluster, stats, policy)
    by_key = {alert_key(a, s if a == "network" else ""): (a, v, t, s) for a, v, t, s in alerts}
    allowed, sent = regulate(state.alerts_sent, list(by_key), work.now)
    for key in allowed:
        alert, value, threshold, subject = by_key[key]
        work.emit(HostThresholdExceeded, alert=alert, value=value, threshold=threshold, subject=subject)
    return evolve(state, alerts_sent=sent)
