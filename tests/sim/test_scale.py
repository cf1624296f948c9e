"""5,000 hosts x 20 VMs start within seconds and fit in memory."""

from __future__ import annotations

from tests.support.sim import running_sim


def test_five_thousand_hosts_start_quickly_and_stay_small() -> None:
    with running_sim(hosts=5000, vms_per_host=20, seed=1, timeout=60) as sim:
        health = sim.control.health()
        assert health["hosts"] == 5000 and health["vms"] == 100_000
        assert len(sim.result("host-5000", "Host.getAllVmStats")) == 20
        rss_mb = sim.rss_bytes() / 2**20
        print(f"\n5000 hosts x 20 VMs: startup {sim.startup_seconds:.2f} s, RSS {rss_mb:.0f} MiB")
        assert sim.startup_seconds < 30
        assert rss_mb < 1536
