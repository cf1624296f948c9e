"""The ground truth the fault suite counts against: every change of a VM's (host, status), timed,
and a clock that stops so the truth holds still."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.procs import wait_for
from tests.support.sim import SimProcess, running_sim


@pytest.fixture()
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=2, seed=5) as s:
        yield s


def test_each_change_of_the_truth_is_logged_once_with_its_wall_time(sim: SimProcess) -> None:
    start = sim.control.transitions()
    assert len(start) == 4 and {r["status"] for r in start} == {"Up"}  # the fleet as created
    seq = start[-1]["seq"]
    vm_id = start[0]["vm_id"]
    before = time.time()
    sim.control.pause(vm_id)
    sim.control.resume(vm_id)
    sim.control.hibernate(vm_id)
    sim.control.tick(3)  # SavingState, then down: Suspended as the engine shows it
    rows = sim.control.transitions(since=seq)
    assert [(r["vm_id"], r["host"], r["status"]) for r in rows] == [
        (vm_id, "host-0001", "Paused"), (vm_id, "host-0001", "Up"), (vm_id, "host-0001", "SavingState"),
        (vm_id, None, "Suspended")]
    assert all(before <= r["at"] <= time.time() for r in rows)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert sim.control.truth()[vm_id] == {"host": None, "status": "Suspended"}


def test_a_stopped_clock_holds_the_fleet_still() -> None:
    with running_sim(hosts=2, vms_per_host=3, seed=5, churn=600, tick_seconds=0.05) as sim:
        wait_for(lambda: len(sim.control.transitions()) > 6, timeout=30, what="churn")
        stopped = sim.control.set_clock(False)
        tick, seq = stopped["tick"], stopped["seq"]
        assert not stopped["running"]
        time.sleep(0.5)  # ten ticks' time: none may pass
        assert sim.control.health()["tick"] == tick
        assert sim.control.transitions(since=seq) == []
        assert sim.control.set_clock(True)["running"]
        wait_for(lambda: sim.control.health()["tick"] > tick, timeout=30, what="ticks again")
