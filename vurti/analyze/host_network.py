"""Host NICs (HostMonitoring.checkVdsInterfaces, NetworkMonitoringHelper.determineProblematicNics).

While the host is Up, on every report with host statistics:
- a NIC that carries a network, or a slave of a bond that does, changing state
  (up/down) is a HostNicStateChanged event (reportNicStatusChanges; the first state
  seen is learned silently);
- a NIC under a network the cluster requires that is not up starts a grace period
  (NicDHCPDelayGrace, 60 s: DHCP may still be bringing it up); still down after it, the
  host becomes NonOperational, naming the NICs and their networks.
The networks' NICs come from the capabilities (HostState.network_nics).
"""

from __future__ import annotations

from vurti.analyze._work import Work
from vurti.analyze.host import set_status
from vurti.analyze.nic_state import down_required_nics, nics_down_reason
from vurti.domain.events import HostNicStateChanged, HostNonOperational
from vurti.domain.model import Cluster, HostState, evolve
from vurti.domain.policy import MonitoringPolicy
from vurti.domain.report import HostStats
from vurti.domain.status import HostStatus


def check_host_network(
    work: Work, cluster: Cluster, state: HostState, stats: HostStats, policy: MonitoringPolicy
) -> HostState:
    if state.status != HostStatus.Up:
        return state
    reported = {nic.name: nic.state for nic in stats.nics}
    carrying = {nic for _, nics in state.network_nics for nic in nics}
    bond_of = {slave: bond for bond, slaves in state.bond_slaves if bond in carrying for slave in slaves}
    watched = sorted(n for n in carrying | bond_of.keys() if n in reported)
    before = dict(state.nic_states)
    for nic in watched:
        old, new = before.get(nic), reported[nic]
        if old is not None and old != new:
            work.emit(HostNicStateChanged, nic=nic, old=old, new=new, bond=bond_of.get(nic, ""))
    state = evolve(state, nic_states=tuple((nic, reported[nic]) for nic in watched))
    down = down_required_nics(cluster, state.network_nics, reported)
    if not down:
        return evolve(state, nics_down_since=None)
    if state.nics_down_since is None:
        return evolve(state, nics_down_since=work.now)
    if work.now < state.nics_down_since + policy.nic_down_grace:
        return state
    reason = nics_down_reason(down)
    work.emit(HostNonOperational, reason=reason)
    return evolve(set_status(work, state, HostStatus.NonOperational, reason), nics_down_since=None)
