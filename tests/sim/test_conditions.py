"""The simulator's host conditions (control API): NIC states, usage, capabilities changed while it runs.

What they change is checked on the wire, against VDSM's schema (the shared validator),
and through vurti's own parsers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.sim.test_protocol import VALIDATOR, needs_validator
from tests.support.sim import SimProcess, running_sim
from vurti.agent.parse_host import parse_capabilities, parse_host_stats
from vurti.sim.control_client import ControlError


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with running_sim(hosts=2, vms_per_host=2, seed=3) as s:
        yield s


def test_nic_state_and_usage_show_in_host_statistics(sim: SimProcess) -> None:
    host = sim.host_names[0]
    sim.control.set_nic(host, "eno1", "down")
    sim.control.set_usage(host, cpu=99, mem_used=97, swap_free=10, disk_free=300)
    try:
        stats = parse_host_stats(sim.result(host, "Host.getStats"))
        assert {n.name: n.state for n in stats.nics}["eno1"] == "down"
        assert (round(stats.cpu_user + stats.cpu_sys), stats.mem_used, stats.swap_free) == (99, 97, 10)
        assert {free for _, free in stats.disks_free} == {300}
        other = parse_host_stats(sim.result(sim.host_names[1], "Host.getStats"))
        assert all(n.state == "up" for n in other.nics) and other.mem_used < 97
    finally:
        sim.control.set_usage(host, cpu=None, mem_used=None, swap_free=None, disk_free=None)
        sim.control.set_nic(host, "eno1", "up")
    assert parse_host_stats(sim.result(host, "Host.getStats")).swap_free > 10


def test_changed_capabilities_are_reported_and_hinted(sim: SimProcess) -> None:
    host = sim.host_names[1]
    with sim.peer(host, events=True) as peer:
        sim.control.set_capabilities(host, kvm_enabled=False, rng_sources=["hwrng"], selinux_mode=-1)
        event = peer.event()
    try:
        assert event["method"].startswith("|net|host_conn|") and isinstance(event["params"]["notify_time"], int)
        caps = parse_capabilities(sim.result(host, "Host.getCapabilities"))
        assert (caps.kvm_enabled, caps.rng_sources, caps.selinux_mode) == (False, ("hwrng",), -1)
        assert dict(caps.network_nics)["ovirtmgmt"] == ("eno1",)
    finally:
        sim.control.set_capabilities(host, kvm_enabled=None, rng_sources=None, selinux_mode=None)
    assert parse_capabilities(sim.result(host, "Host.getCapabilities")).kvm_enabled


@pytest.mark.parametrize("call, body", [
    ("set_nic", {"nic": "eno1", "state": "sideways"}),
    ("set_usage", {"cpu": 101}),
    ("set_usage", {"load": 5}),
    ("set_capabilities", {"kvm_enabled": "no"}),
    ("set_capabilities", {"selinux_mode": 2}),
])
def test_bad_conditions_are_refused(sim: SimProcess, call: str, body: dict[str, object]) -> None:
    with pytest.raises(ControlError) as refused:
        getattr(sim.control, call)(sim.host_names[0], **body)
    assert refused.value.status == 400


@needs_validator
def test_validator_finds_no_violation_with_conditions_set(sim: SimProcess) -> None:
    host = sim.host_names[0]
    sim.control.set_nic(host, "eno2", "down")
    sim.control.set_usage(host, cpu=99, mem_used=97, swap_free=10, disk_free=300, nic_load={"eno1": 99})
    sim.control.set_capabilities(host, kvm_enabled=False, cpu_flags=["vmx"], rng_sources=["hwrng"], selinux_mode=0)
    out = subprocess.run([sys.executable, str(VALIDATOR), sim.address(host)], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.stdout.strip().endswith("4 replies, 0 violations"), out.stdout[-3000:]
