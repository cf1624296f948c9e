"""NIC rates derived from two samples of byte counters (VDSM sends counters, not rates)."""

from __future__ import annotations

import pytest

from tests.analyze.builders import NOW, host, report, run, snapshot, up, vm
from vurti.analyze import apply_analysis
from vurti.analyze.nic_rates import nic_rates
from vurti.domain.model import NicSample, VmUsage
from vurti.domain.report import HostStats, NicStats, VmStats

GBIT = 1000  # Mbps


def nic(rx: int, tx: int, at: float | None, speed: int = GBIT, **fields) -> NicStats:
    return NicStats("vnet0", "up", speed, rx_bytes=rx, tx_bytes=tx, sample_time=at, **fields)


RATE_CASES = [
    # previous sample, reported NIC, expected (rx_rate, tx_rate)
    ("first sample: unknown", None, nic(1_000, 500, 10.0), (None, None)),
    ("100 Mbit/s of 1 Gbit/s is 10 %", NicSample("vnet0", 0, 0, 10.0), nic(125_000_000, 12_500_000, 20.0),
     (10.0, 1.0)),
    ("counter reset: counts from 0", NicSample("vnet0", 900_000_000, 0, 10.0), nic(125_000_000, 0, 20.0),
     (10.0, 0.0)),
    ("capped at 100 %", NicSample("vnet0", 0, 0, 10.0), nic(10**12, 0, 20.0), (100.0, 0.0)),
    ("same sample time: unknown", NicSample("vnet0", 0, 0, 20.0), nic(125_000_000, 0, 20.0), (None, None)),
    ("no speed: unknown", NicSample("vnet0", 0, 0, 10.0), nic(125_000_000, 0, 20.0, speed=0), (None, None)),
    ("another NIC's sample does not count", NicSample("vnet9", 0, 0, 10.0), nic(125_000_000, 0, 20.0),
     (None, None)),
    ("an agent's own rates are kept without counters' time", NicSample("vnet0", 0, 0, 10.0),
     nic(125_000_000, 0, None, rx_rate=0.5, tx_rate=0.2), (0.5, 0.2)),
]


@pytest.mark.parametrize("previous, reported, expected", [c[1:] for c in RATE_CASES], ids=[c[0] for c in RATE_CASES])
def test_rates_from_two_samples(previous, reported, expected):
    (out,), samples = nic_rates((reported,), (previous,) if previous else ())
    if expected[0] is None:
        assert (out.rx_rate, out.tx_rate) == expected
    else:
        assert (out.rx_rate, out.tx_rate) == pytest.approx(expected)
    if reported.sample_time is not None:
        assert samples == (NicSample("vnet0", reported.rx_bytes, reported.tx_bytes, reported.sample_time),)


def test_a_sample_without_nics_keeps_the_earlier_one():
    earlier = (NicSample("vnet0", 5, 5, 1.0),)
    assert nic_rates((), earlier) == ((), earlier)


def _vm_stats(rx: int, at: float) -> VmStats:
    return VmStats(nics=(nic(rx, 0, at),))


def test_vm_rates_over_two_statistics_cycles():
    snap = snapshot(vms=(vm(),))
    first = run(snap, report((up(stats=_vm_stats(0, 100.0), status_time=1),), stats_due=True))
    [(_, stats)] = first.vm_stats
    assert stats.nics[0].rx_rate is None
    [(_, usage)] = first.vm_usage
    assert usage.nic_samples == (NicSample("vnet0", 0, 0, 100.0),)
    snap = apply_analysis(snap, first)
    second = run(snap, report((up(stats=_vm_stats(250_000_000, 115.0), status_time=2),), stats_due=True,
                              fetched_at=NOW + 15), now=NOW + 15)
    [(_, stats)] = second.vm_stats
    assert stats.nics[0].rx_rate == pytest.approx(100 * (250_000_000 * 8 / 1e6 / 15) / GBIT)


def test_samples_from_the_host_a_vm_left_do_not_count():
    snap = snapshot(vms=(vm(host_id="h2"),))
    snap.vm_usage["v1"] = VmUsage(nic_samples=(NicSample("vnet0", 0, 0, 100.0),))
    analysis = run(snap, report((up(stats=_vm_stats(250_000_000, 115.0), status_time=2),), stats_due=True))
    [(_, stats)] = analysis.vm_stats
    assert stats.nics[0].rx_rate is None


def test_host_rates_over_two_statistics_cycles():
    before = host(nic_samples=(NicSample("eno1", 0, 0, 100.0),))
    stats = HostStats(boot_time="boot-1", nics=(NicStats("eno1", "up", 10_000, rx_bytes=12_500_000_000,
                                                         sample_time=110.0),))
    analysis = run(snapshot(before), report(None, stats=stats, stats_due=True))
    assert analysis.host_stats is not None
    assert analysis.host_stats.nics[0].rx_rate == pytest.approx(100.0)  # 10 Gbit/s over 10 s on a 10 Gbit/s link
    assert analysis.host is not None and analysis.host.nic_samples == (NicSample("eno1", 12_500_000_000, 0, 110.0),)
