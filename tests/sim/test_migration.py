"""Migrations driven through the control API report what a real VDSM pair would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.sim import SimProcess, running_sim
from vurti.sim.control_client import ControlError

UNSAMPLED = {"network", "disks", "balloonInfo", "memoryStats", "vcpuCount"}


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=3, vms_per_host=3, seed=21, clusters=1) as s:
        yield s


def _stats(sim: SimProcess, host: str) -> dict[str, dict[str, Any]]:
    return {v["vmId"]: v for v in sim.result(host, "Host.getAllVmStats")}


def _vm(sim: SimProcess) -> str:
    return str(sim.result("host-0001", "Host.getVMList")[0]["vmId"])


def test_successful_migration_ends_down_on_source_until_destroyed(sim: SimProcess) -> None:
    vm_id = _vm(sim)
    sim.control.migrate(vm_id, to="host-0002", mode="precopy", steps=3)
    progress = []
    for _ in range(3):
        src, dst = _stats(sim, "host-0001")[vm_id], _stats(sim, "host-0002")[vm_id]
        assert src["status"] == "Migration Source" and isinstance(src["migrationProgress"], int)
        assert dst["status"] == "Migration Destination" and not UNSAMPLED & set(dst)
        assert "migrationProgress" not in dst
        assert sim.control.truth()[vm_id] == {"host": "host-0001", "status": "MigratingFrom",
                                              "destination": "host-0002"}
        progress.append(src["migrationProgress"])
        sim.control.tick()
    assert progress == sorted(progress) and progress[-1] > progress[0]
    sim.control.tick(2)
    src, dst = _stats(sim, "host-0001")[vm_id], _stats(sim, "host-0002")[vm_id]
    assert dst["status"] == "Up" and "disks" in dst
    assert (src["status"], src["exitCode"], src["exitReason"]) == ("Down", 0, 4)
    assert sim.control.truth()[vm_id] == {"host": "host-0002", "status": "Up"}
    sim.control.tick(30)
    assert _stats(sim, "host-0001")[vm_id]["status"] == "Down"  # the source does not drop it by itself
    assert sim.result("host-0001", "VM.destroy", {"vmID": vm_id}) is True
    assert vm_id not in _stats(sim, "host-0001")
    assert _stats(sim, "host-0002")[vm_id]["status"] == "Up"


def test_postcopy_shows_paused_postcopy_on_source(sim: SimProcess) -> None:
    vm_id = _vm(sim)
    sim.control.migrate(vm_id, to="host-0003", mode="postcopy", steps=2)
    seen = []
    for _ in range(8):
        src = _stats(sim, "host-0001").get(vm_id)
        seen.append(src["status"] if src else None)
        if src and src["status"] == "Paused":
            assert src["pauseCode"] == "POSTCOPY"
            assert "migrationProgress" in src and "cpuUser" not in src and "network" not in src
            assert _stats(sim, "host-0003")[vm_id]["status"] == "Migration Destination"
            # The engine hands the VM over when post-copy starts: the truth is the destination's.
            assert sim.control.truth()[vm_id] == {"host": "host-0003", "status": "MigratingTo"}
        sim.control.tick()
    assert "Migration Source" in seen and "Paused" in seen and seen[-1] == "Down"
    assert seen.index("Migration Source") < seen.index("Paused") < seen.index("Down")
    src = _stats(sim, "host-0001")[vm_id]
    assert (src["exitCode"], src["exitReason"]) == (0, 4)
    assert _stats(sim, "host-0003")[vm_id]["status"] == "Up"


def test_postcopy_phase_lasts_the_ticks_asked_for(sim: SimProcess) -> None:
    vm_id = _vm(sim)
    sim.control.migrate(vm_id, to="host-0003", mode="postcopy", steps=1, postcopy_ticks=6)
    seen = []
    for _ in range(9):
        sim.control.tick()
        src = _stats(sim, "host-0001").get(vm_id)
        seen.append(src["status"] if src else None)
    assert seen.count("Paused") == 6
    assert seen[-1] == "Down" and _stats(sim, "host-0003")[vm_id]["status"] == "Up"


def test_failed_migration_leaves_vm_up_on_source(sim: SimProcess) -> None:
    vm_id = _vm(sim)
    sim.control.migrate(vm_id, to="host-0002", mode="fail", steps=2)
    sim.control.tick()
    assert _stats(sim, "host-0002")[vm_id]["status"] == "Migration Destination"
    sim.control.tick(5)
    assert _stats(sim, "host-0001")[vm_id]["status"] == "Up"
    assert vm_id not in _stats(sim, "host-0002")
    assert sim.control.truth()[vm_id] == {"host": "host-0001", "status": "Up"}


def test_migration_needs_same_cluster() -> None:
    with running_sim(hosts=4, vms_per_host=1, clusters=2) as s:
        vm_id = str(s.result("host-0001", "Host.getVMList")[0]["vmId"])
        with pytest.raises(ControlError) as err:
            s.control.migrate(vm_id, to="host-0004")
        assert err.value.status == 409
        s.control.migrate(vm_id, to="host-0002")
