"""Capabilities while Up: the cluster checks run again when an Up host's capabilities come."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, host, names, report, run, snapshot
from vurti.analyze.host import cluster_problem
from vurti.domain.model import Cluster
from vurti.domain.report import HostCapabilities
from vurti.domain.status import HostStatus

CAPS = HostCapabilities(cpu_model="Xeon", cpu_flags=("vmx", "sse4_2"), networks=("ovirtmgmt",), vdsm_version="4.50",
                        kvm_enabled=True, rng_sources=("random", "hwrng"))
CLUSTER = Cluster(id="c1", name="c1", required_cpu_flags=("vmx",), required_networks=("ovirtmgmt",))


def stored(**fields):  # type: ignore[no-untyped-def]
    base = {"cpu_model": "Xeon", "cpu_flags": ("vmx", "sse4_2"), "networks": ("ovirtmgmt",),
            "vdsm_version": "4.50", "kvm_enabled": True, "rng_sources": ("random", "hwrng")}
    base.update(fields)
    return host(base.pop("status", HostStatus.Up), **base)


# (id, stored fields, reported capability changes, expected status, events)
CASES = [
    ("unchanged", {}, {}, HostStatus.Up, []),
    ("KVM switched off", {}, {"kvm_enabled": False}, HostStatus.NonOperational,
     ["HostCapabilitiesChanged", "HostNonOperational", "HostStatusChanged"]),
    ("a required CPU flag lost", {}, {"cpu_flags": ("sse4_2",)}, HostStatus.NonOperational,
     ["HostCapabilitiesChanged", "HostNonOperational", "HostStatusChanged"]),
    ("a required network gone", {}, {"networks": ()}, HostStatus.NonOperational,
     ["HostCapabilitiesChanged", "HostNonOperational", "HostStatusChanged"]),
    ("no random RNG source left", {}, {"rng_sources": ("hwrng",)}, HostStatus.NonOperational,
     ["HostCapabilitiesChanged", "HostNonOperational", "HostStatusChanged"]),
    ("a flag the cluster does not need", {}, {"cpu_flags": ("vmx", "sse4_2", "avx")}, HostStatus.Up,
     ["HostCapabilitiesChanged"]),
    ("a new VDSM", {}, {"vdsm_version": "4.50.8"}, HostStatus.Up, ["HostCapabilitiesChanged"]),
    ("first capabilities stored by this version are learned silently", {"kvm_enabled": None, "rng_sources": ()},
     {}, HostStatus.Up, []),
]


@pytest.mark.parametrize("fields, changes, status, events", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_capabilities_while_up(fields, changes, status, events):
    from vurti.domain.model import replace

    caps = replace(CAPS, **changes)
    analysis = run(snapshot(stored(**fields), cluster=CLUSTER), report(None, capabilities=caps))
    assert analysis.host.status == status
    assert names(analysis) == events
    assert analysis.host.kvm_enabled == caps.kvm_enabled and analysis.host.rng_sources == caps.rng_sources


def test_the_changed_event_says_what_changed():
    from vurti.domain.model import replace

    analysis = run(snapshot(stored(), cluster=CLUSTER),
                   report(None, capabilities=replace(CAPS, kvm_enabled=False, cpu_flags=("vmx",))))
    assert analysis.events[0].changed == "CPU flags, KVM"
    assert analysis.host.status_reason == "KVM is not enabled"


def test_an_up_host_without_capabilities_in_the_report_is_not_checked():
    analysis = run(snapshot(stored(cpu_flags=()), cluster=CLUSTER), report(None))
    assert analysis.host.status == HostStatus.Up and names(analysis) == []


# (id, cluster's RNG sources, host's, problem)
RNG_CASES = [
    ("random is enough", (), ("random",), None),
    ("urandom counts as random", (), ("urandom",), None),
    ("an agent that tells none is not judged", (), (), None),
    ("hwrng alone", (), ("hwrng",), "missing RNG sources: random or urandom"),
    ("the cluster needs hwrng", ("hwrng",), ("random",), "missing RNG sources: hwrng"),
    ("the cluster needs hwrng, the host tells none", ("hwrng",), (),
     "missing RNG sources: random or urandom, hwrng"),
]


@pytest.mark.parametrize("required, offered, problem", [c[1:] for c in RNG_CASES], ids=[c[0] for c in RNG_CASES])
def test_rng_sources(required, offered, problem):
    cluster = Cluster(id="c1", name="c1", required_rng_sources=required)
    assert cluster_problem(cluster, HostCapabilities(rng_sources=offered)) == problem


def test_non_operational_host_with_fixed_capabilities_comes_back_up():
    snap = snapshot(stored(status=HostStatus.NonOperational, status_reason="KVM is not enabled", kvm_enabled=False),
                    cluster=CLUSTER)
    assert run(snap, report(None, capabilities=CAPS), now=NOW).host.status == HostStatus.Up


@pytest.mark.parametrize("mode, events", [(1, []), (0, []), (None, []), (-1, ["HostSelinuxNotEnforcing"])])
def test_selinux_disabled_is_a_warning_once_an_hour(mode, events):
    from vurti.analyze import apply_analysis
    from vurti.domain.model import replace

    snap = snapshot(stored(), cluster=CLUSTER)
    first = run(snap, report(None, capabilities=replace(CAPS, selinux_mode=mode)))
    assert names(first) == events
    snap = apply_analysis(snap, first)
    again = run(snap, report(None, capabilities=replace(CAPS, selinux_mode=mode), fetched_at=NOW + 60), now=NOW + 60)
    assert names(again) == []
    hour = run(snap, report(None, capabilities=replace(CAPS, selinux_mode=mode), fetched_at=NOW + 3600),
               now=NOW + 3600)
    assert names(hour) == events
