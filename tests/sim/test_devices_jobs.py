"""Hot-plug, unplug and block jobs driven through the control API, as VDSM shows them on the wire.

host-0001 runs VDSM 4.30 (devices in Host.getVMFullList, no Host.dumpxmls), host-0002 VDSM
4.50 (domain XML from Host.dumpxmls, short Host.getVMFullList rows), as real fleets mix them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sim.test_protocol import VALIDATOR, needs_validator
from tests.support.sim import SimProcess, running_sim
from vurti.agent.parse_devices import parse_vm_devices
from vurti.agent.parse_domxml import parse_domxmls
from vurti.sim.control_client import ControlError

LEGACY, HOST = "host-0001", "host-0002"


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=2, seed=5, extra_args=("--legacy-hosts", "1")) as s:  # ticks on tick()
        s.control.tick(5)  # the VMs are Up
        yield s


def _stats(sim: SimProcess, host: str = HOST) -> dict[str, dict[str, Any]]:
    return {v["vmId"]: v for v in sim.result(host, "Host.getAllVmStats")}


def _full(sim: SimProcess, vm_id: str) -> dict[str, Any]:
    (row,) = sim.result(LEGACY, "Host.getVMFullList", {"vmList": [vm_id]})
    return row


def _xml(sim: SimProcess, vm_id: str) -> str:
    xmls = sim.result(HOST, "Host.dumpxmls", {"vmList": [vm_id]})
    assert list(xmls) == [vm_id]
    return str(xmls[vm_id])


def test_hotplug_and_unplug_change_the_devices_and_the_hash(sim: SimProcess) -> None:
    for host in (HOST, LEGACY):
        vm_id, other = sorted(_stats(sim, host))
        before, other_hash = _stats(sim, host)[vm_id]["hash"], _stats(sim, host)[other]["hash"]
        assert _stats(sim, host)[vm_id]["hash"] == before  # stable while nothing changes
        ids = {d.get("deviceId") for d in sim.control.vm(vm_id)["devices"]}
        sim.control.hotplug(vm_id, kind="nic")
        (added,) = [d for d in sim.control.vm(vm_id)["devices"] if d.get("deviceId") not in ids]
        assert (added["type"], added["device"]) == ("interface", "bridge") and added["address"]
        if host == HOST:
            assert f"<alias name=\"ua-{added['deviceId']}\"/>" in _xml(sim, vm_id)
            assert f"mac_address=\"{added['macAddr']}\"" in _xml(sim, vm_id)  # its metadata entry
        else:
            assert added in _full(sim, vm_id)["devices"]
        plugged_hash = _stats(sim, host)[vm_id]["hash"]
        assert plugged_hash != before and _stats(sim, host)[other]["hash"] == other_hash
        sim.control.unplug(vm_id, added["deviceId"])
        if host == HOST:
            assert added["deviceId"] not in _xml(sim, vm_id)
        else:
            assert all(d.get("deviceId") != added["deviceId"] for d in _full(sim, vm_id)["devices"])
        assert _stats(sim, host)[vm_id]["hash"] != plugged_hash
        with pytest.raises(ControlError):
            sim.control.unplug(vm_id, "no-such-device")


def test_a_modern_host_gives_devices_as_domain_xml_and_short_full_rows(sim: SimProcess) -> None:
    vm_id = min(_stats(sim))
    sim.control.hotplug(vm_id, kind="disk")
    listed = sim.control.vm(vm_id)["devices"]
    from_xml = parse_domxmls(sim.result(HOST, "Host.dumpxmls", {"vmList": [vm_id]}))
    assert from_xml == parse_vm_devices([{"vmId": vm_id, "devices": listed}])  # one device set, either form
    assert sum(d.managed for d in from_xml[vm_id]) == sum(1 for d in listed if "deviceId" in d and "address" in d)
    (row,) = sim.result(HOST, "Host.getVMFullList", {"vmList": [vm_id]})
    assert set(row) == {"vmId", "status", "statusTime"}
    gone = sim.rpc(HOST, "Host.dumpxmls", {"vmList": [vm_id, "00000000-0000-0000-0000-000000000000"]})
    assert gone["error"]["code"] == -32603  # VDSM: one VM it does not have fails the call (a KeyError)
    assert sim.result(HOST, "Host.getCapabilities")["software_version"] == "4.50.7"


def test_a_legacy_host_has_no_dumpxmls_and_lists_devices_in_full(sim: SimProcess) -> None:
    refused = sim.rpc(LEGACY, "Host.dumpxmls", {"vmList": []})
    assert refused["error"]["code"] == -32601
    vm_id = min(_stats(sim, LEGACY))
    assert {"vmId", "status", "statusTime", "devices"} <= set(_full(sim, vm_id))
    assert {d["type"] for d in _full(sim, vm_id)["devices"]} >= {"disk", "balloon", "controller"}
    assert sorted(sim.result(LEGACY, "Host.getVMList")) == sorted(_stats(sim, LEGACY))  # bare UUIDs by default
    rows = sim.result(LEGACY, "Host.getVMList", {"onlyUUID": False})
    assert set(rows[0]) == {"vmId", "status", "statusTime"}
    caps = sim.result(LEGACY, "Host.getCapabilities")
    assert caps["software_version"] == caps["packages2"]["vdsm"]["version"] == "4.30.46"
    calls = sim.control.host(LEGACY)["calls"]
    assert calls["Host.dumpxmls"] == 1 and calls["Host.getVMFullList"] == 2  # counted, refused or not


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
    out = subprocess.run([sys.executable, str(VALIDATOR), sim.address(HOST), sim.address(LEGACY)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.stdout.strip().endswith("8 replies, 0 violations"), out.stdout[-3000:]
