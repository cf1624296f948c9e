"""Fold an Analysis back into a snapshot: what the updaters will have stored.

Pure; used by tests, the simulator and anything that replays reports without a
database.
"""

from __future__ import annotations

from vurti.domain.analysis import Analysis
from vurti.domain.model import HostSnapshot, evolve


def apply_analysis(snapshot: HostSnapshot, analysis: Analysis) -> HostSnapshot:
    """The snapshot the next analysis of this host would load after `analysis` is stored."""
    if analysis.stale or (
        analysis.host is None and not analysis.vms and not analysis.ended_operations and not analysis.vm_usage
    ):
        return snapshot
    vms = dict(snapshot.vms)
    for vm in analysis.vms:
        vms[vm.vm_id] = vm
    operations = {k: op for k, op in snapshot.operations.items() if k not in analysis.ended_operations}
    usage = {**snapshot.vm_usage, **{vm_id: u for vm_id, u in analysis.vm_usage if vm_id in vms}}
    return evolve(snapshot, state=analysis.host or snapshot.state, vms=vms, operations=operations, vm_usage=usage)
