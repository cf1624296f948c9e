"""Host rules: reachability and grace period, agent recovery, reboot, cluster checks.

oVirt: VdsManager.handleNetworkException / isHostInGracePeriod (grace),
HostMonitoring (capabilities and cluster checks for hosts that are not Up),
VirtMonitoringStrategy.processSoftwareCapabilities (the checks again whenever an
Up host's capabilities are refreshed), VDSRecoveringException (error 99 -> Initializing).
"""

from __future__ import annotations

from dataclasses import dataclass

from vurti.analyze._work import Work
from vurti.analyze.fencing import request_fencing
from vurti.analyze.flood import regulate
from vurti.analyze.nic_state import down_required_nics, nics_down_reason
from vurti.domain.events import (
    AgentError,
    HostCapabilitiesChanged,
    HostConnecting,
    HostNonOperational,
    HostNonResponsive,
    HostRebooted,
    HostRecovering,
    HostSelinuxNotEnforcing,
    HostStatusChanged,
)
from vurti.domain.model import Cluster, HostSnapshot, HostState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import FetchError, HostCapabilities, HostReport, HostStats
from vurti.domain.status import UNMONITORED_HOST_STATUSES, VM_MONITORED_HOST_STATUSES, HostStatus, VmStatus

RECOVERY_TOO_LONG = "agent recovery takes too long"

# Hosts that get Host.getCapabilities and the cluster checks when the report has them.
CHECKED_STATUSES = frozenset(
    {
        HostStatus.Unassigned,
        HostStatus.Initializing,
        HostStatus.NonOperational,
        HostStatus.Connecting,
        HostStatus.NonResponsive,
    }
)
# handleNetworkException: these are not moved to Connecting during the grace period.
NOT_TO_CONNECTING = frozenset({HostStatus.Connecting, HostStatus.PreparingForMaintenance, HostStatus.NonResponsive})


@dataclass(frozen=True)
class HostOutcome:
    state: HostState
    analyse_vms: bool = False  # the report's VM list may be analysed
    vms_unknown: bool = False  # host past its grace period: its running VMs become Unknown
    rebooted: bool = False  # boot time changed: forget this host's VM timestamps
    answered: bool = False  # a monitored host answered: its statistics may be saved


def analyze_host(work: Work, snapshot: HostSnapshot, report: HostReport, policy: MonitoringPolicy) -> HostOutcome:
    if report.partial and report.error is None:
        # A pushed VM event: says nothing about the host itself, and leaves the polls' clock alone.
        # Applied only where polls would analyse VMs: a NonResponsive host's VMs stay Unknown
        # until a poll brings the host back (its polls analyse the full list).
        monitored = snapshot.state.status in VM_MONITORED_HOST_STATUSES
        return HostOutcome(snapshot.state, analyse_vms=monitored and report.vms is not None)
    state = evolve(snapshot.state, last_report_at=report.fetched_at)
    if state.status in UNMONITORED_HOST_STATUSES:
        # oVirt does not monitor these at all (isMonitoringNeeded); an administrator or
        # installer owns the status. A report still in flight only advances the clock.
        return HostOutcome(state)
    if report.error is not None:
        if report.error.is_recovering:
            return HostOutcome(_recovering(work, state, report.error, policy))
        return _unanswered(work, snapshot, state, report.error, policy, report.last_answered_at)
    return _answered(work, snapshot.cluster, state, report)


def set_status(work: Work, state: HostState, status: HostStatus, reason: str | None = None) -> HostState:
    """Every host status change is a HostStatusChanged event."""
    if state.status != status:
        work.emit(HostStatusChanged, old=state.status.name, new=status.name, reason=reason)
    if status != HostStatus.NonResponsive:  # the lease delay counts from the host becoming NonResponsive
        return evolve(state, status=status, status_reason=reason, non_responsive_since=None, lease_restart_at=None)
    return evolve(state, status=status, status_reason=reason)


def cluster_problem(cluster: Cluster, caps: HostCapabilities) -> str | None:
    """What keeps the host out of the cluster (oVirt's NonOperational reasons), or None."""
    problems = []
    flags = set(caps.cpu_flags)
    missing_flags = [f for f in cluster.required_cpu_flags if f not in flags]
    if missing_flags:
        problems.append("missing CPU flags: " + ", ".join(missing_flags))
    networks = set(caps.networks)
    missing_networks = [n for n in cluster.required_networks if n not in networks]
    if missing_networks:
        problems.append("missing networks: " + ", ".join(missing_networks))
    if not caps.kvm_enabled:
        problems.append("KVM is not enabled")
    if caps.rng_sources or cluster.required_rng_sources:
        # hostCompliesWithRngDeviceSources: the cluster's sources, and random or urandom (equivalent).
        sources = set(caps.rng_sources)
        missing_rng = [r for r in cluster.required_rng_sources if r not in sources]
        if not sources & {"random", "urandom"}:
            missing_rng.insert(0, "random or urandom")
        if missing_rng:
            problems.append("missing RNG sources: " + ", ".join(missing_rng))
    return "; ".join(problems) or None


def capabilities_changed(state: HostState, caps: HostCapabilities) -> list[str]:
    """What the cluster checks read that differs from the capabilities last stored.

    Nothing for a host whose capabilities were never stored with these fields (kvm_enabled None).
    """
    if state.kvm_enabled is None:
        return []
    changed = []
    if set(state.cpu_flags) != set(caps.cpu_flags):
        changed.append("CPU flags")
    if state.cpu_model != caps.cpu_model:
        changed.append("CPU model")
    if (set(state.networks) != set(caps.networks) or state.network_nics != caps.network_nics
            or state.bond_slaves != caps.bond_slaves):
        changed.append("networks")
    if state.kvm_enabled != caps.kvm_enabled:
        changed.append("KVM")
    if set(state.rng_sources) != set(caps.rng_sources):
        changed.append("RNG sources")
    if state.vdsm_version != caps.vdsm_version:
        changed.append("VDSM version")
    return changed


def _answered(work: Work, cluster: Cluster, state: HostState, report: HostReport) -> HostOutcome:
    state = evolve(state, unanswered_attempts=0, last_success_at=work.now, recovering_since=None)
    rebooted = False
    boot_time = report.stats.boot_time if report.stats is not None else None
    if boot_time is not None:
        if state.boot_time is not None and state.boot_time != boot_time:
            work.emit(HostRebooted, old_boot_time=state.boot_time, new_boot_time=boot_time)
            rebooted = True
        state = evolve(state, boot_time=boot_time)
    caps = report.capabilities
    changed: list[str] = []
    if caps is not None:
        changed = capabilities_changed(state, caps)
        state = evolve(
            state,
            cpu_model=caps.cpu_model,
            cpu_flags=caps.cpu_flags,
            networks=caps.networks,
            vdsm_version=caps.vdsm_version,
            kvm_enabled=caps.kvm_enabled,
            rng_sources=caps.rng_sources,
            network_nics=caps.network_nics,
            bond_slaves=caps.bond_slaves,
        )
        state = _selinux(work, state, caps)
    if caps is not None and state.status in CHECKED_STATUSES:
        state = _cluster_checks(work, cluster, state, caps, report.stats)
    elif caps is not None and state.status == HostStatus.Up:
        # Capabilities refreshed while Up (VDSM's |net|host_conn| hint, a manual refresh): the
        # checks run again, not only before Up.
        if changed:
            work.emit(HostCapabilitiesChanged, changed=", ".join(changed))
        problem = cluster_problem(cluster, caps)
        if problem is not None:
            work.emit(HostNonOperational, reason=problem)
            state = set_status(work, state, HostStatus.NonOperational, problem)
    elif state.status in (HostStatus.Connecting, HostStatus.NonResponsive):
        # Back from silence without capabilities: re-initialise first (oVirt).
        state = set_status(work, state, HostStatus.Initializing, "host answers again")
    return HostOutcome(state, analyse_vms=report.vms is not None, rebooted=rebooted, answered=True)


def _selinux(work: Work, state: HostState, caps: HostCapabilities) -> HostState:
    """processRefreshCapabilitiesResponse: SELinux disabled is a warning, at most once an hour.

    An agent that does not report the mode is not judged (oVirt warns "UNKNOWN").
    """
    if caps.selinux_mode is None or caps.selinux_mode >= 0:
        return state
    allowed, sent = regulate(state.alerts_sent, ["selinux"], work.now)
    if allowed:
        work.emit(HostSelinuxNotEnforcing, mode=caps.selinux_mode)
    return evolve(state, alerts_sent=sent)


def _cluster_checks(
    work: Work, cluster: Cluster, state: HostState, caps: HostCapabilities, stats: HostStats | None
) -> HostState:
    problem = cluster_problem(cluster, caps)
    if problem is None and state.status == HostStatus.NonOperational and stats is not None:
        # A host made NonOperational by a required network's NIC stays so while the NIC is down
        # (its grace was spent before): re-checking it Up would only start the grace again.
        down = down_required_nics(cluster, state.network_nics, {nic.name: nic.state for nic in stats.nics})
        problem = nics_down_reason(down) if down else None
    if problem is None:
        return set_status(work, state, HostStatus.Up)
    if state.status != HostStatus.NonOperational or state.status_reason != problem:
        work.emit(HostNonOperational, reason=problem)
    return set_status(work, state, HostStatus.NonOperational, problem)


def _recovering(work: Work, state: HostState, error: FetchError, policy: MonitoringPolicy) -> HostState:
    """Error 99: the agent answers but is still recovering; its VMs stay as they are."""
    since = state.recovering_since if state.recovering_since is not None else work.now
    first = state.recovering_since is None
    state = evolve(state, unanswered_attempts=0, last_success_at=work.now, recovering_since=since)
    if work.now - since > policy.recovery_timeout:
        if state.status != HostStatus.NonOperational or state.status_reason != RECOVERY_TOO_LONG:
            work.emit(HostNonOperational, reason=RECOVERY_TOO_LONG)
        return set_status(work, state, HostStatus.NonOperational, RECOVERY_TOO_LONG)
    if first:
        work.emit(HostRecovering, message=error.message)
    return set_status(work, state, HostStatus.Initializing, "agent recovering")


def in_grace_period(state: HostState, attempts: int, now: float, grace: float, policy: MonitoringPolicy) -> bool:
    """isHostInGracePeriod: the grace ends only when BOTH limits are exceeded.

    A host that never answered has no last success to count from: only the
    attempts limit protects it.
    """
    if attempts <= policy.reset_attempts:
        return True
    return state.last_success_at is not None and now <= state.last_success_at + grace


def last_success(state: HostState, last_answered_at: float | None) -> float | None:
    """The grace period counts from the last answered poll: the stored one, or a later one
    the report knows of (answered polls that changed nothing are not written)."""
    if last_answered_at is None or (state.last_success_at is not None and state.last_success_at >= last_answered_at):
        return state.last_success_at
    return last_answered_at


def _unanswered(
    work: Work,
    snapshot: HostSnapshot,
    state: HostState,
    error: FetchError,
    policy: MonitoringPolicy,
    last_answered_at: float | None = None,
) -> HostOutcome:
    """handleNetworkException. Protocol and data errors count as unanswered polls too:
    the engine could not learn the host's state, and the grace period absorbs flaps."""
    if state.unanswered_attempts == 0:
        # Once per run of failures; Connecting / NonResponsive events follow the run.
        work.emit(AgentError, kind=str(error.kind), message=error.message, verb=error.verb, code=error.code)
    attempts = state.unanswered_attempts + 1
    state = evolve(
        state,
        unanswered_attempts=attempts,
        recovering_since=None,
        last_success_at=last_success(state, last_answered_at),
    )
    running = work.running_here()
    grace = policy.grace_period(len(running), snapshot.config.is_spm)
    if in_grace_period(state, attempts, work.now, grace, policy):
        if state.status not in NOT_TO_CONNECTING:
            state = set_status(work, state, HostStatus.Connecting, error.message)
            work.emit(HostConnecting, error=error.message)
        return HostOutcome(state)
    if state.status != HostStatus.NonResponsive:
        since = work.now - state.last_success_at if state.last_success_at is not None else None
        affected = sum(1 for vm in running if vm.status != VmStatus.Unknown)
        state = set_status(work, state, HostStatus.NonResponsive, f"{attempts} unanswered polls: {error.message}")
        state = evolve(state, non_responsive_since=work.now, lease_restart_at=None)
        work.emit(HostNonResponsive, unanswered_attempts=attempts, seconds_since_success=since, vms_affected=affected)
        request_fencing(work, snapshot, attempts, since)
    return HostOutcome(state, vms_unknown=True)
