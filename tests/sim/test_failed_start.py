"""A start that fails reports what VDSM reports when libvirt cannot start the domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.sim import SimProcess, running_sim


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=1, seed=5) as s:
        yield s


def _stats(sim: SimProcess, host: str) -> dict[str, dict[str, Any]]:
    return {v["vmId"]: v for v in sim.result(host, "Host.getAllVmStats")}


def test_failed_start_waits_for_launch_then_goes_down_with_an_error(sim: SimProcess) -> None:
    created = sim.control.create_vm("host-0001", name="doomed", start=False)
    vm_id = created["vm_id"]
    sim.control.start(vm_id, host="host-0002", fail="internal error: cannot start domain")
    assert _stats(sim, "host-0002")[vm_id]["status"] == "WaitForLaunch"
    sim.control.tick()
    down = _stats(sim, "host-0002")[vm_id]
    assert (down["status"], down["exitCode"], down["exitReason"], down["exitMessage"]) == (
        "Down", 1, 3, "internal error: cannot start domain")
    # The record stays until the engine destroys it; then the VM can be started again.
    assert sim.result("host-0002", "VM.destroy", {"vmID": vm_id}) is True
    sim.control.start(vm_id, host="host-0002")
    sim.control.tick(4)
    assert _stats(sim, "host-0002")[vm_id]["status"] == "Up"
