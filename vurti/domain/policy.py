"""Monitoring rules' tunables, with oVirt's shipped defaults (ovirt-monitoring.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MonitoringPolicy:
    refresh_interval: float = 3.0  # VdsRefreshRate, default for clusters
    push_interval: float = 15.0  # safety-net polls while a host's events flow (oVirt 4.x), default for clusters
    stats_every: int = 5  # NumberVmRefreshesBeforeSave
    reset_timeout: float = 60.0  # TimeoutToResetVdsInSeconds
    reset_delay_per_vm: float = 0.5  # DelayResetPerVmInSeconds
    reset_delay_spm: float = 20.0  # DelayResetForSpmInSeconds
    reset_attempts: int = 2  # VDSAttemptsToResetCount
    recovery_timeout: float = 180.0  # error 99 for this long -> NonOperational
    guest_mem_low_percent: float = 5.0  # guest free memory below this -> GuestMemoryLow
    balloon_tolerance_kib: int = 10 * 1024  # balloon this far from target for a stats cycle -> warn
    usage_history_limit: int = 40  # UsageHistoryLimit: samples of CPU, memory and network usage kept per VM
    # oVirt destroys an unknown VM paused on EIO and a paused copy of a VM running elsewhere.
    # Off: vurti never destroys a VM that is not Down (taking over a running fleet must not
    # kill the VMs it had never seen).
    destroy_paused_vms: bool = False
    # Host alert thresholds (0000_config.sql): a cluster may set its own memory threshold.
    max_cpu_used_percent: float = 95.0  # LogMaxCpuUsedThresholdInPercentage
    max_memory_used_percent: float = 95.0  # LogMaxPhysicalMemoryUsedThresholdInPercentage
    max_swap_used_percent: float = 95.0  # LogMaxSwapMemoryUsedThresholdInPercentage
    min_free_swap_mb: int = 1024  # LogSwapMemoryThresholdInMB (alerting 2% below it)
    max_network_used_percent: float = 95.0  # LogMaxNetworkUsedThresholdInPercentage
    disk_low_free_mb: int = 1000  # VdsLocalDisksLowFreeSpace
    disk_critical_free_mb: int = 500  # VdsLocalDisksCriticallyLowFreeSpace
    nic_down_grace: float = 60.0  # NicDHCPDelayGraceInMS (seconds, despite its name)
    # VMs with a lease on a NonResponsive host are restartable elsewhere after this many of the
    # cluster's poll intervals (NumberVdsRefreshesBeforeTryToStartUnknownVms), asked again after
    # as many more (NumberVdsRefreshesBeforeRetryToStartUnknownVms + 1) while the host stays lost.
    lease_restart_cycles: int = 10
    lease_retry_cycles: int = 101
    # An engine-started run or migration not confirmed within this long failed (a rerun is asked for).
    run_timeout: float = 180.0
    migrate_timeout: float = 600.0

    def grace_period(self, vm_count: int, is_spm: bool) -> float:
        """Seconds after the last success before a silent host is NonResponsive."""
        return self.reset_timeout + self.reset_delay_spm * is_spm + self.reset_delay_per_vm * vm_count


MIN_INTERVAL = 0.1  # seconds between polls of a host: the range the schedule accepts
MAX_INTERVAL = 3600.0


def valid_interval(value: object) -> bool:
    """A poll interval the schedule can use: a finite number in [MIN_INTERVAL, MAX_INTERVAL].

    Zero, negative, infinite or NaN intervals break the slot arithmetic of every host
    scheduled with them (division by zero, slots that never come).
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and MIN_INTERVAL <= value <= MAX_INTERVAL
