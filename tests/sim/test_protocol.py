"""The simulator's verbs: schema conformance, VDSM's error codes, Down records and destroy (over STOMP)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests

from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim
from tests.support.stomp_peer import REQUESTS

# shared/ lies beside the project's checkout; a user's clone has none.
VALIDATOR = Path(__file__).resolve().parents[3] / "shared" / "tools" / "vdsm_validate.py"
needs_validator = pytest.mark.skipif(not VALIDATOR.exists(), reason=f"no validator at {VALIDATOR} (outside a clone)")
RUNNING_ONLY = {"vmId", "status", "statusTime", "exitCode", "exitReason", "exitMessage", "timeOffset"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=4, vms_per_host=6, seed=11, clusters=2) as s:
        yield s


@needs_validator
def test_validator_finds_no_violation_on_a_churning_fleet() -> None:
    # 120 events per host per simulated minute, 20 ticks per wall second: statuses change all the time.
    with running_sim(hosts=8, vms_per_host=20, seed=5, churn=120, clusters=2, tick_seconds=0.05,
                     extra_args=("--postcopy-share", "0", "--legacy-hosts", "2")) as s:  # VDSM 4.30 and 4.50
        seen: set[str] = set()
        for _ in range(4):
            out = subprocess.run([sys.executable, str(VALIDATOR), *s.host_addresses], capture_output=True, text=True,
                                 check=False, timeout=120)
            assert out.stdout.strip().endswith("32 replies, 0 violations"), out.stdout[-3000:]
            assert out.returncode == 0
            for name in s.host_names:
                seen.update(v["status"] for v in s.result(name, "Host.getVMList", {"onlyUUID": False}))
        wait_for(lambda: s.control.health()["tick"] > 20, what="20 ticks of life")
        assert "Down" in seen and len(seen) >= 3, seen


def test_startup_line_names_the_control_api_and_the_agents(sim: SimProcess) -> None:
    first, last = sim.address(sim.host_names[0]), sim.address(sim.host_names[-1])
    assert f"listening on {sim.base_url} (control API); agents at {first} ... {last}" in sim.log()
    assert first.startswith("stomp://127.1.0.1:") and last.startswith("stomp://127.1.0.4:")


def test_vdsm_error_codes(sim: SimProcess) -> None:
    host = sim.host_names[0]
    assert sim.rpc(host, "Host.noSuchVerb")["error"]["code"] == -32601
    assert sim.rpc(host, "VM.getStats", {"vmId": "x"})["error"]["code"] == -32603
    missing = sim.rpc(host, "VM.destroy", {"vmID": "00000000-0000-0000-0000-000000000000"})
    assert missing["error"] == {"code": 1, "message": "Virtual machine does not exist: "
                                "{'vmId': '00000000-0000-0000-0000-000000000000'}"}
    assert sim.rpc(host, "Host.ping")["result"] is True
    assert sim.rpc(host, "Host.ping2")["result"] is True
    with sim.peer(host) as peer:
        peer.subscribe("jms.topic.vdsm_responses")  # where VDSM sends a parse error, whatever the reply-to
        peer.send("SEND", {"destination": REQUESTS, "reply-to": peer.reply_to}, b'{"jsonrpc": "2.0", "id": 4, "method"')
        bad = peer.message()
        assert bad.headers["destination"] == "jms.topic.vdsm_responses"
        assert orjson.loads(bad.body) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
        body = orjson.dumps([{"jsonrpc": "2.0", "id": 9, "method": "Host.ping"}])
        peer.send("SEND", {"destination": REQUESTS, "reply-to": peer.reply_to}, body)
        assert orjson.loads(peer.message().body) == {"jsonrpc": "2.0", "id": 9, "result": True}  # a bare object
        peer.send("SEND", {"destination": REQUESTS, "reply-to": peer.reply_to}, b"[]")
        assert orjson.loads(peer.message().body)["error"]["code"] == -32600


def test_wire_types(sim: SimProcess) -> None:
    host = sim.host_names[1]
    vms = sim.result(host, "Host.getAllVmStats")
    assert len(vms) == 6
    vm = vms[0]
    assert isinstance(vm["statusTime"], str) and int(vm["statusTime"]) > 2**31 - 1
    assert isinstance(vm["cpuUser"], str) and "." in vm["cpuUser"]
    assert isinstance(vm["guestCPUCount"], int) and isinstance(vm["elapsedTime"], str)
    assert "pauseCode" not in vm and "migrationProgress" not in vm
    stats = sim.result(host, "Host.getStats")
    assert isinstance(stats["memFree"], int) and isinstance(stats["vmCount"], int)
    assert isinstance(stats["cpuUser"], str) and isinstance(stats["elapsedTime"], str)
    caps = sim.result(host, "Host.getCapabilities")
    assert isinstance(caps["cpuFlags"], str) and "," in caps["cpuFlags"] and "ovirtmgmt" in caps["networks"]
    short = sim.result(host, "Host.getVMList", {"onlyUUID": True})
    assert set(short[0]) == {"vmId", "status", "statusTime"}
    full = sim.result(host, "Host.getVMFullList")
    assert [(r["vmId"], r["status"]) for r in full] == [(r["vmId"], r["status"]) for r in short]
    # VDSM 4.40+: the short rows; devices come from Host.dumpxmls (4.30's form: tests/sim/test_devices_jobs.py).
    assert set(full[0]) == {"vmId", "status", "statusTime"}
    assert isinstance(vm["hash"], str) and int(vm["hash"]) != 0
    assert vm["vmJobs"] == {}
    some = sim.result(host, "Host.getVMFullList", {"vmList": [vm["vmId"]]})
    assert [r["vmId"] for r in some] == [vm["vmId"]]
    one = sim.result(host, "VM.getStats", {"vmID": vm["vmId"]})
    assert len(one) == 1 and one[0]["vmId"] == vm["vmId"]


def test_status_time_grows_on_every_poll(sim: SimProcess) -> None:
    host = sim.host_names[2]
    times = []
    for _ in range(3):
        times.append(int(sim.result(host, "Host.getVMList")[0]["statusTime"]))
        wait_for(lambda: int(sim.result(host, "Host.getVMList")[0]["statusTime"]) > times[-1], timeout=2)
    assert times == sorted(times) and len(set(times)) == 3


def test_down_vm_stays_until_destroyed(sim: SimProcess) -> None:
    host = sim.host_names[3]
    vm_id = sim.result(host, "Host.getVMList")[0]["vmId"]
    sim.control.crash(vm_id, reason=2, message="Lost connection with qemu process")
    for _ in range(5):
        sim.control.tick(10)
        rows = {v["vmId"]: v for v in sim.result(host, "Host.getAllVmStats")}
        assert set(rows[vm_id]) == RUNNING_ONLY
        assert rows[vm_id]["status"] == "Down"
        assert rows[vm_id]["exitCode"] == 1 and rows[vm_id]["exitReason"] == 2
    assert sim.control.truth()[vm_id] == {"host": None, "status": "Down"}
    assert sim.result(host, "VM.destroy", {"vmID": vm_id}) is True
    assert vm_id not in {v["vmId"] for v in sim.result(host, "Host.getVMList")}
    assert sim.rpc(host, "VM.destroy", {"vmID": vm_id})["error"]["code"] == 1
    calls = [d for d in sim.control.destroys() if d["vm_id"] == vm_id]
    assert [(d["host"], d["found"]) for d in calls] == [(host, True), (host, False)]


def test_control_api_lifecycle(sim: SimProcess) -> None:
    host = sim.host_names[0]
    created = sim.control.create_vm(host, name="web-1")
    vm_id = created["vm_id"]

    def status() -> str:
        return {v["vmId"]: v["status"] for v in sim.result(host, "Host.getVMList")}[vm_id]

    seen = [status()]
    for _ in range(4):
        sim.control.tick()
        seen.append(status())
    assert seen[0] == "WaitForLaunch" and "Powering up" in seen and seen[-1] == "Up"
    sim.control.pause(vm_id, code="EIO")
    paused = sim.result(host, "VM.getStats", {"vmID": vm_id})[0]
    assert paused["status"] == "Paused" and paused["pauseCode"] == "EIO"
    sim.control.resume(vm_id)
    assert "pauseCode" not in sim.result(host, "VM.getStats", {"vmID": vm_id})[0]
    sim.control.not_responding(vm_id)
    assert sim.result(host, "VM.getStats", {"vmID": vm_id})[0]["monitorResponse"] == "-1"
    assert sim.control.truth()[vm_id]["status"] == "NotResponding"
    sim.control.watchdog(vm_id, "reset")
    assert sim.result(host, "VM.getStats", {"vmID": vm_id})[0]["watchdogEvent"]["action"] == "reset"
    sim.control.stop(vm_id, by="user")
    sim.control.tick(3)
    down = sim.result(host, "VM.getStats", {"vmID": vm_id})[0]
    assert (down["status"], down["exitCode"], down["exitReason"]) == ("Down", 0, 7)


def test_token_guards_control_api() -> None:
    with running_sim(hosts=1, vms_per_host=1, token="s3cret") as s:
        assert s.control.health()["ok"]
        assert requests.get(s.base_url + "control/health", timeout=5).status_code == 401
        assert s.rpc(s.host_names[0], "Host.ping")["result"] is True
