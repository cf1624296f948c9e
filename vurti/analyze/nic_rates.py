"""NIC rates from two samples of byte counters, as oVirt's NetworkStatisticsBuilder.

VDSM reports per NIC the bytes received and sent since the counter started (`rx`,
`tx`), the agent's time of the sample and the link speed; the engine derives the
rates: bytes between two samples, over the time between them, as a percentage of
the speed (capped at 100). A counter that went down was reset (a NIC re-created, a
VM restarted): the bytes since the reset are the new value. Without an earlier
sample, a later sample time or a speed, the rate is unknown (None). An agent that
reports rates itself (`rxRate`, older VDSM) keeps them when none can be derived.
"""

from __future__ import annotations

from vurti.domain.model import NicSample, evolve
from vurti.domain.report import NicStats

BITS_IN_BYTE = 8
BITS_IN_MEGABIT = 1_000_000


def nic_rates(
    nics: tuple[NicStats, ...], previous: tuple[NicSample, ...]
) -> tuple[tuple[NicStats, ...], tuple[NicSample, ...]]:
    """The NICs with their rates, and the samples to keep for the next time (a sample
    without NICs, libvirt having none yet, keeps the earlier ones)."""
    if not nics:
        return nics, previous
    before = {s.name: s for s in previous}
    out: list[NicStats] = []
    samples: list[NicSample] = []
    for nic in nics:
        if nic.sample_time is None:
            out.append(nic)
            continue
        samples.append(NicSample(nic.name, nic.rx_bytes, nic.tx_bytes, nic.sample_time))
        last = before.get(nic.name)
        if last is None or nic.sample_time <= last.sample_time or nic.speed <= 0:
            out.append(nic)
            continue
        seconds = nic.sample_time - last.sample_time
        out.append(
            evolve(
                nic,
                rx_rate=rate_percent(nic.rx_bytes, last.rx, seconds, nic.speed),
                tx_rate=rate_percent(nic.tx_bytes, last.tx, seconds, nic.speed),
            )
        )
    return tuple(out), tuple(samples)


def rate_percent(current: int, previous: int, seconds: float, speed_mbps: int) -> float:
    """Percent of the link speed used between two counter values `seconds` apart."""
    sent = current - previous if current >= previous else current  # went down: reset, count from 0
    mbps = sent * BITS_IN_BYTE / BITS_IN_MEGABIT / seconds
    return min(100.0, 100.0 * mbps / speed_mbps)
