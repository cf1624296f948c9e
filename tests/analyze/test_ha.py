"""Highly available VMs: an error exit asks for a restart, nothing else does."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, H, down, events_of, report, run, snapshot, up, vm
from vurti.domain.events import VmRestartRequested
from vurti.domain.model import OperationKind, PendingOperation
from vurti.domain.status import VmStatus

HA = {"auto_start": True}
RUN = PendingOperation("v1", OperationKind.RUN, H, NOW - 5, NOW + 60)

CASES = [
    # (id, stored VM, reported VMs, pending operations, restart asked)
    ("crash on its host", vm(**HA), (down(code=1, reason=2, message="qemu died"),), (), True),
    ("disappeared from its host", vm(**HA), (), (), True),
    ("migration source crashed", vm(status=VmStatus.MigratingFrom, migrating_to_host="h2", **HA),
     (down(code=1, reason=2),), (), True),
    ("not highly available", vm(), (down(code=1, reason=2),), (), False),
    ("normal exit", vm(**HA), (down(code=0, reason=7, message="user shut down"),), (), False),
    ("powering down, then gone: shutdown complete", vm(status=VmStatus.PoweringDown, **HA), (), (), False),
    ("hibernation failed: Suspended, not Down", vm(status=VmStatus.SavingState, **HA), (down(code=1, reason=1),),
     (), False),
    ("migration succeeded on the source", vm(status=VmStatus.MigratingFrom, migrating_to_host="h2", **HA),
     (down(code=0, reason=4),), (), False),
    ("error exit while an engine-started run is pending: a rerun instead", vm(**HA), (down(code=1, reason=3),),
     (RUN,), False),
    ("Down record of a VM already Down: recorded once", vm(status=VmStatus.Down, host_id=None, exit_code=1, **HA),
     (down(code=1, reason=2),), (), False),
    ("still running", vm(**HA), (up(),), (), False),
]


@pytest.mark.parametrize("stored, reported, operations, asked", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_restart_requested_only_after_an_error_exit(stored, reported, operations, asked):
    snap = snapshot(vms=(stored,), operations=operations)
    analysis = run(snap, report(reported))
    restarts = events_of(analysis, VmRestartRequested)
    assert [(e.vm_id, e.host_id) for e in restarts] == ([("v1", H)] if asked else [])


def test_restart_request_carries_the_exit():
    analysis = run(snapshot(vms=(vm(**HA),)), report((down(code=1, reason=2, message="qemu died"),)))
    [restart] = events_of(analysis, VmRestartRequested)
    assert (restart.exit_code, restart.exit_reason, restart.exit_message, restart.severity) == (
        1, 2, "qemu died", "alert")
    assert "restart requested" in restart.describe()
