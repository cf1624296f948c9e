"""Host NICs: state changes are events; a required network's NIC down past the grace -> NonOperational."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, host, names, report, run, snapshot
from vurti.analyze import apply_analysis
from vurti.domain.model import Cluster
from vurti.domain.report import HostCapabilities, HostStats, NicStats
from vurti.domain.status import HostStatus

NETS = (("ovirtmgmt", ("eno1",)), ("storage", ("eno2",)), ("vm-lan", ("eno2",)))
REQUIRED = Cluster(id="c1", name="c1", required_networks=("ovirtmgmt", "storage"))


def nics(**states: str) -> HostStats:
    return HostStats(nics=tuple(NicStats(name, state=state) for name, state in states.items()))


def up_host(**fields):  # type: ignore[no-untyped-def]
    fields.setdefault("network_nics", NETS)
    fields.setdefault("nic_states", (("eno1", "up"), ("eno2", "up")))
    return host(fields.pop("status", HostStatus.Up), **fields)


def poll(stats: HostStats, at: float = NOW):  # type: ignore[no-untyped-def]
    return report(None, stats=stats, fetched_at=at)


# (id, stored fields, reported NIC states, expected status, nics_down_since, events)
CASES = [
    ("all up", {}, {"eno1": "up", "eno2": "up"}, HostStatus.Up, None, []),
    ("a required network's NIC goes down: the grace starts", {}, {"eno1": "down", "eno2": "up"}, HostStatus.Up, NOW,
     ["HostNicStateChanged"]),
    ("still down within the grace", {"nic_states": (("eno1", "down"), ("eno2", "up")), "nics_down_since": NOW - 59},
     {"eno1": "down", "eno2": "up"}, HostStatus.Up, NOW - 59, []),
    ("still down past the grace: NonOperational",
     {"nic_states": (("eno1", "down"), ("eno2", "up")), "nics_down_since": NOW - 61},
     {"eno1": "down", "eno2": "up"}, HostStatus.NonOperational, None, ["HostNonOperational", "HostStatusChanged"]),
    ("back up within the grace", {"nic_states": (("eno1", "down"), ("eno2", "up")), "nics_down_since": NOW - 30},
     {"eno1": "up", "eno2": "up"}, HostStatus.Up, None, ["HostNicStateChanged"]),
    ("unknown counts as not up", {}, {"eno1": "unknown", "eno2": "up"}, HostStatus.Up, NOW, ["HostNicStateChanged"]),
    ("a NIC of a network that is not required: an event, no grace", {"network_nics": (("vm-lan", ("eno2",)),),
     "nic_states": (("eno2", "up"),)}, {"eno1": "up", "eno2": "down"}, HostStatus.Up, None, ["HostNicStateChanged"]),
    ("a NIC the report does not list is not judged", {}, {"eno2": "up"}, HostStatus.Up, None, []),
    ("first sighting is learned silently", {"nic_states": ()}, {"eno1": "down", "eno2": "up"}, HostStatus.Up, NOW, []),
    ("NICs without networks are not watched", {"nic_states": ()}, {"eno1": "up", "eno2": "up", "eno3": "down"},
     HostStatus.Up, None, []),
]


@pytest.mark.parametrize("stored, states, status, since, events", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_required_network_nics(stored, states, status, since, events):
    analysis = run(snapshot(up_host(**stored), cluster=REQUIRED), poll(nics(**states)))
    state = analysis.host
    assert state.status == status
    assert state.nics_down_since == since
    assert names(analysis) == events


def test_nic_events_and_the_reason_name_the_nics_and_networks():
    snap = snapshot(up_host(nic_states=(("eno1", "down"), ("eno2", "up")), nics_down_since=NOW - 61),
                    cluster=REQUIRED)
    analysis = run(snap, poll(nics(eno1="down", eno2="down")))
    assert analysis.host.status_reason == (
        "network interfaces of required networks are down: eno1 (ovirtmgmt), eno2 (storage)")
    changed = next(e for e in analysis.events if type(e).__name__ == "HostNicStateChanged")
    assert (changed.nic, changed.old, changed.new, changed.severity) == ("eno2", "up", "down", "warning")


def test_only_up_hosts_are_judged():
    for status in (HostStatus.PreparingForMaintenance, HostStatus.Initializing):
        snap = snapshot(up_host(status=status, nics_down_since=NOW - 100), cluster=REQUIRED)
        analysis = run(snap, poll(nics(eno1="down", eno2="up")))
        assert analysis.host.status == status and names(analysis) == []


def test_a_host_made_non_operational_by_a_nic_stays_so_until_the_nic_is_up():
    """Its re-check with capabilities (every poll of a NonOperational host) must not flap it Up."""
    reason = "network interfaces of required networks are down: eno1 (ovirtmgmt)"
    snap = snapshot(up_host(status=HostStatus.NonOperational, status_reason=reason), cluster=REQUIRED)
    caps = HostCapabilities(networks=("ovirtmgmt", "storage", "vm-lan"), network_nics=NETS)
    still = run(snap, report(None, capabilities=caps, stats=nics(eno1="down", eno2="up")))
    assert still.host.status == HostStatus.NonOperational and names(still) == []
    back = run(snap, report(None, capabilities=caps, stats=nics(eno1="up", eno2="up")))
    assert back.host.status == HostStatus.Up


def test_the_grace_runs_across_polls():
    snap = snapshot(up_host(), cluster=REQUIRED)
    for at, expected in ((NOW, HostStatus.Up), (NOW + 30, HostStatus.Up), (NOW + 61, HostStatus.NonOperational)):
        analysis = run(snap, poll(nics(eno1="down", eno2="up"), at), now=at)
        snap = apply_analysis(snap, analysis)
        assert snap.state.status == expected


def test_slaves_of_a_bond_that_carries_a_network_are_watched_the_bond_decides():
    stored = up_host(network_nics=(("ovirtmgmt", ("bond0",)),), bond_slaves=(("bond0", ("eno3", "eno4")),
                                                                              ("bond9", ("eno9",))),
                     nic_states=(("bond0", "up"), ("eno3", "up"), ("eno4", "up"), ("eno9", "up")))
    analysis = run(snapshot(stored, cluster=REQUIRED), poll(nics(bond0="up", eno3="down", eno4="up", eno9="down")))
    (event,) = analysis.events  # eno9's bond carries no network: not watched
    assert (event.nic, event.bond, event.new) == ("eno3", "bond0", "down")
    assert event.describe() == "Host h1 slave eno3 of bond bond0 changed from up to down"
    assert analysis.host.nics_down_since is None  # the bond is up: the network is
