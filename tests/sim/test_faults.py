"""Every fault mode produces what it says, and clearing it brings the host back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim
from vurti.domain.status import VDSM_VM_STATUS

CALL = {"jsonrpc": "2.0", "id": 1, "method": "Host.getAllVmStats", "params": {}}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=12, vms_per_host=4, seed=3) as s:
        yield s


def _post(sim: SimProcess, host: str, body: dict | None = None, timeout: float = 5.0) -> requests.Response:
    return requests.post(sim.host_url(host), json=body or CALL, timeout=timeout)


def test_refuse_closes_without_reply(sim: SimProcess) -> None:
    sim.control.set_fault("host-0001", "refuse")
    with pytest.raises(requests.ConnectionError):
        _post(sim, "host-0001")
    assert sim.result("host-0002", "Host.ping") is True
    sim.control.clear_fault("host-0001")
    assert sim.result("host-0001", "Host.ping") is True


def test_hang_until_client_timeout_and_release_on_clear(sim: SimProcess) -> None:
    sim.control.set_fault("host-0002", "hang")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        _post(sim, "host-0002", timeout=0.5)
    assert time.monotonic() - started >= 0.5
    replies: list[int] = []
    waiter = threading.Thread(target=lambda: replies.append(_post(sim, "host-0002", timeout=10).status_code))
    waiter.start()
    wait_for(lambda: sim.control.host("host-0002")["fault"]["hits"] >= 2, what="second hung request")
    sim.control.clear_fault("host-0002")
    waiter.join(10)
    assert replies == [200]


def test_slow_adds_latency(sim: SimProcess) -> None:
    sim.control.set_fault("host-0003", "slow", seconds=0.6)
    started = time.monotonic()
    assert "result" in _post(sim, "host-0003").json()
    assert time.monotonic() - started >= 0.6
    sim.control.clear_fault("host-0003")


def test_jsonrpc_error_with_given_code_and_verb_filter(sim: SimProcess) -> None:
    sim.control.set_fault("host-0004", "jsonrpc_error", code=100, message="General Exception: ('boom',)",
                          verbs=["Host.getAllVmStats"])
    assert _post(sim, "host-0004").json()["error"] == {"code": 100, "message": "General Exception: ('boom',)"}
    assert sim.result("host-0004", "Host.getVMList")  # other verbs unaffected
    sim.control.clear_fault("host-0004")


def test_malformed_and_truncated_are_not_json(sim: SimProcess) -> None:
    for kind in ("malformed", "truncated"):
        sim.control.set_fault("host-0005", kind)
        resp = _post(sim, "host-0005")
        assert resp.status_code == 200 and len(resp.content) > 10
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.content)
    sim.control.set_fault("host-0005", "truncated", remaining=1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(_post(sim, "host-0005").content)
    assert sim.result("host-0005", "Host.ping") is True  # cleared itself after one reply


def test_wrong_types(sim: SimProcess) -> None:
    sim.control.set_fault("host-0006", "wrong_types")
    vms = _post(sim, "host-0006").json()["result"]
    assert isinstance(vms[0]["vmId"], int) and vms[0]["disks"] == 0
    stats = sim.rpc("host-0006", "Host.getStats")["result"]
    assert stats["network"] == 0 and isinstance(stats["memFree"], str)
    sim.control.clear_fault("host-0006")


def test_unknown_status(sim: SimProcess) -> None:
    sim.control.set_fault("host-0007", "unknown_status", status="Hibernating")
    statuses = {v["status"] for v in sim.result("host-0007", "Host.getVMList")}
    assert statuses == {"Hibernating"} and not statuses & set(VDSM_VM_STATUS)
    sim.control.clear_fault("host-0007")


def test_recovering_answers_99_on_every_verb_then_recovers(sim: SimProcess) -> None:
    sim.control.set_fault("host-0008", "recovering", seconds=1.0)
    for verb in ("Host.ping", "Host.getVMList", "Host.getStats", "Host.getCapabilities"):
        err = sim.rpc("host-0008", verb)["error"]
        assert err == {"code": 99, "message": "Recovering from crash or Initializing"}
    wait_for(lambda: "result" in sim.rpc("host-0008", "Host.ping"), timeout=5, what="recovery to end")


def test_restart_changes_boot_time_and_clock_and_keeps_vms(sim: SimProcess) -> None:
    host = "host-0009"
    before_stats = sim.result(host, "Host.getStats")
    before_vms = sim.result(host, "Host.getVMList")
    sim.control.set_fault(host, "restart", seconds=1.0)
    assert sim.rpc(host, "Host.getVMList")["error"]["code"] == 99
    wait_for(lambda: "result" in sim.rpc(host, "Host.ping"), timeout=5, what="agent restart to end")
    after_stats = sim.result(host, "Host.getStats")
    after_vms = sim.result(host, "Host.getVMList")
    assert after_stats["bootTime"] != before_stats["bootTime"]
    assert [(v["vmId"], v["status"]) for v in after_vms] == [(v["vmId"], v["status"]) for v in before_vms]
    assert int(after_vms[0]["statusTime"]) < int(before_vms[0]["statusTime"])  # a new clock base


def test_huge_reply_has_the_given_size(sim: SimProcess) -> None:
    size = 5 * 1024 * 1024
    sim.control.set_fault("host-0010", "huge", size=size)
    resp = _post(sim, "host-0010", timeout=30)
    assert len(resp.content) == size
    assert len(resp.json()["result"]) == 4
    sim.control.clear_fault("host-0010")


def test_unknown_fault_kind_is_refused(sim: SimProcess) -> None:
    resp = requests.put(sim.base_url + "control/hosts/host-0011/fault", json={"kind": "gremlins"}, timeout=5)
    assert resp.status_code == 400


def test_sigterm_stops_cleanly_even_with_a_hung_request() -> None:
    with running_sim(hosts=1, vms_per_host=1) as s:
        s.control.set_fault("host-0001", "hang")
        hung = threading.Thread(target=lambda: _swallow(lambda: _post(s, "host-0001", timeout=30)), daemon=True)
        hung.start()
        wait_for(lambda: s.control.host("host-0001")["fault"]["hits"] >= 1, what="a hung request")
        started = time.monotonic()
        s.proc.terminate()
        assert s.proc.wait(15) == 0
        assert time.monotonic() - started < 10


def _swallow(fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except requests.RequestException:
        pass
