"""A host lost: the fencing request, and VMs with a lease restartable elsewhere.

oVirt: VdsManager.handleNetworkException notifies the fencing flow once, when the
host becomes NonResponsive (VdsEventListener.vdsNotResponding ->
VdsNotRespondingTreatmentCommand: soft fencing over SSH, then power management), and
restartVmsWithLeaseIfNeeded asks to run the host's VMs that have a storage lease on
another host, NumberVdsRefreshesBeforeTryToStartUnknownVms (10) polls later and every
NumberVdsRefreshesBeforeRetryToStartUnknownVms + 1 (101) polls after that while the
host stays lost. vurti does neither action: it raises HostFencingRequested and
VmLeaseRestartRequested for a subscriber to act on.
"""

from __future__ import annotations

from vurti.analyze._work import Work, left_by_migration
from vurti.domain.events import HostFencingRequested, VmLeaseRestartRequested
from vurti.domain.model import Cluster, HostSnapshot, HostState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.status import VmStatus


def request_fencing(work: Work, snapshot: HostSnapshot, attempts: int, since: float | None) -> None:
    """Once per NonResponsive episode: called on the transition only."""
    lost = sorted((vm for vm in work.running_here() if not left_by_migration(vm)), key=lambda vm: vm.vm_id)
    work.emit(
        HostFencingRequested,
        cluster_id=snapshot.cluster.id,
        cluster_name=snapshot.cluster.name,
        address=snapshot.config.url,
        is_spm=snapshot.config.is_spm,
        unanswered_attempts=attempts,
        seconds_since_success=since,
        vm_ids=tuple(vm.vm_id for vm in lost),
        ha_vm_ids=tuple(vm.vm_id for vm in lost if vm.auto_start),
        lease_vm_ids=tuple(vm.vm_id for vm in lost if vm.lease_sd_id),
    )


def restart_leased(work: Work, state: HostState, cluster: Cluster, policy: MonitoringPolicy) -> HostState:
    """On each unanswered poll of a NonResponsive host: its Unknown VMs with a lease, once the delay
    (counted in the cluster's poll intervals) has passed, and again after each retry delay."""
    since = state.non_responsive_since
    if since is None:  # NonResponsive before vurti counted it: the delay starts now
        return evolve(state, non_responsive_since=work.now)
    interval = cluster.refresh_interval
    if work.now < since + policy.lease_restart_cycles * interval:
        return state
    last = state.lease_restart_at
    if last is not None and work.now < last + policy.lease_retry_cycles * interval:
        return state
    leased = [vm for vm in work.running_here() if vm.lease_sd_id and vm.status == VmStatus.Unknown]
    for vm in sorted(leased, key=lambda vm: vm.vm_id):
        work.emit(VmLeaseRestartRequested, vm_id=vm.vm_id, vm_name=vm.name, lease_sd_id=vm.lease_sd_id or "",
                  seconds_non_responsive=work.now - since)
    return evolve(state, lease_restart_at=work.now) if leased else state
