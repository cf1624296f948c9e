"""Host usage over thresholds, and oVirt's flood regulator."""

from __future__ import annotations

import pytest

from tests.analyze.builders import CLUSTER, NOW, POLICY, host, report, run, snapshot
from vurti.analyze import apply_analysis
from vurti.analyze.flood import regulate
from vurti.analyze.thresholds import usage_alerts
from vurti.domain.model import Cluster, replace
from vurti.domain.report import HostStats, NicStats

CALM = HostStats(cpu_user=20, cpu_sys=5, mem_used=40, mem_free=100_000, swap_total=4096, swap_free=4096,
                 disks_free=(("/tmp", 20_000),))

# (id, statistics changed from CALM, cluster changes, expected (alert, value, threshold, subject))
CASES = [
    ("calm", {}, {}, []),
    ("CPU user + system over 95%", {"cpu_user": 90, "cpu_sys": 6}, {}, [("cpu", 96, 95, "")]),
    ("CPU at 95% is not over", {"cpu_user": 90, "cpu_sys": 5}, {}, []),
    ("memory over the system's 95%", {"mem_used": 96}, {}, [("memory", 96, 95, "")]),
    ("memory over the cluster's 80%", {"mem_used": 81}, {"max_memory_used_percent": 80.0},
     [("memory", 81, 80, "")]),
    ("the cluster's 99% allows 96%", {"mem_used": 96}, {"max_memory_used_percent": 99.0}, []),
    ("free memory under the cluster's MB", {"mem_used": 99, "mem_free": 500}, {"min_free_memory_mb": 1024},
     [("low_memory", 500, 1024, "")]),
    ("swap used over 95%", {"swap_free": 2000, "swap_total": 409_600}, {}, [("swap", 99.51, 95, "")]),
    ("free swap under 98% of 1024 MB", {"swap_free": 1000}, {}, [("low_swap", 1000, 1024, "")]),
    ("free swap within the 2% slack", {"swap_free": 1004}, {}, []),
    ("no swap at all is not judged", {"swap_total": 0, "swap_free": 0}, {}, []),
    ("a NIC receiving at 97% of its speed", {"nics": (NicStats("eno1", rx_rate=97.0, tx_rate=1.0),)}, {},
     [("network", 97, 95, "eno1")]),
    ("a NIC rate of 95.9% truncates to 95 (oVirt's intValue)", {"nics": (NicStats("eno1", tx_rate=95.9),)}, {}, []),
    ("a VM's tap is not the host's NIC", {"nics": (NicStats("vnet0", rx_rate=99.0),)}, {}, []),
    ("a NIC with unknown rates", {"nics": (NicStats("eno1"),)}, {}, []),
    ("low disk space", {"disks_free": (("/tmp", 800), ("/var/log", 50_000))}, {}, [("disk_low", 800, 1000, "/tmp")]),
    ("critically low disk space, per kind", {"disks_free": (("/tmp", 400), ("/var/log", 900), ("/var/run", 300))},
     {}, [("disk_critical", 300, 500, "/tmp, /var/run"), ("disk_low", 900, 1000, "/var/log")]),
]


@pytest.mark.parametrize("changes, cluster_changes, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_usage_over_thresholds(changes, cluster_changes, expected):
    alerts = usage_alerts(replace(CLUSTER, **cluster_changes), replace(CALM, **changes), POLICY)
    assert [(a, pytest.approx(v), t, s) for a, v, t, s in alerts] == expected


def stats_report(at: float, **changes):  # type: ignore[no-untyped-def]
    return report(None, stats=replace(CALM, **changes), stats_due=True, fetched_at=at)


def test_alerts_are_events_throttled_per_type_and_host():
    snap = snapshot(host())
    first = run(snap, stats_report(NOW, cpu_user=99, mem_used=97))
    assert [(e.alert, e.severity) for e in first.events] == [("cpu", "warning"), ("memory", "warning")]
    assert "CPU usage 100% is over 95%" in first.events[0].describe()  # user 99 + system 5, capped
    snap = apply_analysis(snap, first)
    # 15 s later, still high: within the 30 minutes of VDS_HIGH_CPU_USE / VDS_HIGH_MEM_USE, nothing.
    again = run(snap, stats_report(NOW + 15, cpu_user=99, mem_used=97), now=NOW + 15)
    assert again.events == () and again.host.alerts_sent == snap.state.alerts_sent
    # Memory drops, the CPU stays high; after 30 minutes the CPU alert comes again, alone.
    later = run(snap, stats_report(NOW + 1801, cpu_user=99), now=NOW + 1801)
    assert [e.alert for e in later.events] == ["cpu"]
    assert dict(later.host.alerts_sent) == {"cpu": NOW + 1801}  # the memory alert's time ran out: forgotten


def test_each_nic_is_throttled_on_its_own():
    snap = apply_analysis(snapshot(host()), run(snapshot(host()),
                                                stats_report(NOW, nics=(NicStats("eno1", rx_rate=99.0),))))
    both = run(snap, stats_report(NOW + 15, nics=(NicStats("eno1", rx_rate=99.0), NicStats("eno2", tx_rate=99.0))),
               now=NOW + 15)
    assert [(e.alert, e.subject) for e in both.events] == [("network", "eno2")]


def test_critically_low_disk_space_is_an_error_and_low_swap_waits_a_day():
    first = run(snapshot(host()), stats_report(NOW, disks_free=(("/tmp", 100),), swap_free=10))
    assert [(e.alert, e.severity) for e in first.events] == [("low_swap", "warning"), ("disk_critical", "error")]
    snap = apply_analysis(snapshot(host()), first)
    hour = run(snap, stats_report(NOW + 3600, disks_free=(("/tmp", 100),), swap_free=10), now=NOW + 3600)
    assert [e.alert for e in hour.events] == ["disk_critical"]


def test_thresholds_are_checked_on_statistics_cycles_only():
    assert run(snapshot(host()), report(None, stats=replace(CALM, cpu_user=99), stats_due=False)).events == ()


# (id, remembered, wanted, now, allowed, remembered after)
FLOOD_CASES = [
    ("first time", (), ["cpu"], 0.0, ["cpu"], (("cpu", 0.0),)),
    ("within its rate", (("cpu", 0.0),), ["cpu"], 1799.0, [], (("cpu", 0.0),)),
    ("rate over", (("cpu", 0.0),), ["cpu"], 1800.0, ["cpu"], (("cpu", 1800.0),)),
    ("another kind is not throttled", (("cpu", 0.0),), ["memory"], 10.0, ["memory"],
     (("cpu", 0.0), ("memory", 10.0))),
    ("another NIC", (("network:eno1", 0.0),), ["network:eno2"], 10.0, ["network:eno2"],
     (("network:eno1", 0.0), ("network:eno2", 10.0))),
    ("run-out entries are forgotten", (("disk_critical", 0.0),), [], 900.0, [], ()),
    ("low swap once a day", (("low_swap", 0.0),), ["low_swap"], 86_399.0, [], (("low_swap", 0.0),)),
]


@pytest.mark.parametrize("sent, wanted, now, allowed, after", [c[1:] for c in FLOOD_CASES],
                         ids=[c[0] for c in FLOOD_CASES])
def test_flood_regulator(sent, wanted, now, allowed, after):
    assert regulate(sent, wanted, now) == (allowed, after)


def test_a_cluster_threshold_applies_to_its_hosts_only():
    cluster = Cluster(id="c1", name="c1", max_memory_used_percent=50.0)
    assert [e.alert for e in run(snapshot(host(), cluster=cluster), stats_report(NOW, mem_used=60)).events] == [
        "memory"]
    assert run(snapshot(host()), stats_report(NOW, mem_used=60)).events == ()


def test_a_steady_statistics_cycle_changes_no_more_host_columns_than_before():
    """The host rules' memory (NIC states, alert times, the NIC grace) is written only when it changes."""
    from vurti.domain.model import changed_fields

    stored = host(network_nics=(("ovirtmgmt", ("eno1",)),), nic_states=(("eno1", "up"),),
                  alerts_sent=(("cpu", NOW - 60),))
    steady = replace(CALM, nics=(NicStats("eno1", state="up"),))
    analysis = run(snapshot(stored, cluster=Cluster(id="c1", name="c1", required_networks=("ovirtmgmt",))),
                   stats_report(NOW, nics=steady.nics))
    assert set(changed_fields(stored, analysis.host)) == {"last_success_at", "last_report_at"}
    assert analysis.events == ()
