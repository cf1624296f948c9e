"""Hot-plug, unplug and block jobs driven through the control API, as VDSM shows them on the wire."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sim.test_protocol import VALIDATOR, needs_validator
from tests.support.sim import SimProcess, running_sim
from vurti.sim.control_client import ControlError

HOST = "host-0001"


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=1, vms_per_host=2, seed=5) as s:  # ticks only on control.tick()
        s.control.tick(5)  # the VMs are Up
        yield s


def _stats(sim: SimProcess) -> dict[str, dict[str, Any]]:
    return {v["vmId"]: v for v in sim.result(HOST, "Host.getAllVmStats")}


def _full(sim: SimProcess, vm_id: str) -> dict[str, Any]:
    (row,) = sim.result(HOST, "Host.getVMFullList", {"vmList": [vm_id]})
    return row


def test_hotplug_and_unplug_change_the_devices_and_the_hash(sim: SimProcess) -> None:
    vm_id, other = sorted(_stats(sim))
    before, other_hash = _stats(sim)[vm_id]["hash"], _stats(sim)[other]["hash"]
    assert _stats(sim)[vm_id]["hash"] == before  # stable while nothing changes
    ids = {d.get("deviceId") for d in _full(sim, vm_id)["devices"]}
    sim.control.hotplug(vm_id, kind="nic")
    added = [d for d in _full(sim, vm_id)["devices"] if d.get("deviceId") not in ids]
    assert [(d["type"], d["device"]) for d in added] == [("interface", "bridge")] and added[0]["address"]
    plugged_hash = _stats(sim)[vm_id]["hash"]
    assert plugged_hash != before and _stats(sim)[other]["hash"] == other_hash
    sim.control.unplug(vm_id, added[0]["deviceId"])
    assert all(d.get("deviceId") != added[0]["deviceId"] for d in _full(sim, vm_id)["devices"])
    assert _stats(sim)[vm_id]["hash"] != plugged_hash
    with pytest.raises(ControlError):
        sim.control.unplug(vm_id, "no-such-device")


def test_block_job_progresses_and_ends(sim: SimProcess) -> None:
    vm_id = min(_stats(sim))
    sim.control.block_job(vm_id, kind="pull", steps=2)
    (job,) = _stats(sim)[vm_id]["vmJobs"].values()
    assert (job["jobType"], job["blockJobType"], job["cur"]) == ("block", "pull", "0")
    assert isinstance(job["end"], str) and isinstance(job["bandwidth"], int)  # the wire's types
    sim.control.tick()
    (job,) = _stats(sim)[vm_id]["vmJobs"].values()
    assert 0 < int(job["cur"]) < int(job["end"])
    sim.control.tick(2)
    assert _stats(sim)[vm_id]["vmJobs"] == {}


def test_block_job_ends_with_its_vm(sim: SimProcess) -> None:
    vm_id = min(_stats(sim))
    sim.control.block_job(vm_id, steps=100)
    sim.control.crash(vm_id)
    assert "vmJobs" not in _stats(sim)[vm_id]  # a Down record carries no jobs
    with pytest.raises(ControlError):
        sim.control.block_job(vm_id)  # not running


@needs_validator
def test_validator_accepts_running_block_jobs_and_hot_plugged_devices(sim: SimProcess) -> None:
    vm_id, other = sorted(_stats(sim))
    sim.control.block_job(vm_id, kind="commit", steps=50)
    sim.control.hotplug(other, kind="disk")
    sim.control.tick()
    assert _stats(sim)[vm_id]["vmJobs"]  # the job is on the wire while the validator reads it
    out = subprocess.run([sys.executable, str(VALIDATOR), sim.address(HOST)], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.stdout.strip().endswith("4 replies, 0 violations"), out.stdout[-3000:]
