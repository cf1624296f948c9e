"""Same seed, same history: two simulator processes driven tick by tick agree."""

from __future__ import annotations

from tests.support.sim import running_sim
from vurti.sim.life import run_offline


def _history(seed: int) -> list[tuple]:
    with running_sim(hosts=6, vms_per_host=8, seed=seed, churn=30, clusters=2) as sim:
        for _ in range(6):
            sim.control.tick(25)
        return [(r["tick"], r["host"], r["vm_id"], r["what"], r["detail"]) for r in sim.control.history()]


def test_same_seed_same_history_across_processes() -> None:
    first, second = _history(42), _history(42)
    assert len(first) > 50
    assert first == second
    assert first != _history(43)


def test_server_history_matches_offline_run() -> None:
    offline = run_offline(42, 6, 8, 150, 30.0, clusters=2, destroy_down=False)
    assert [(t, h, v, w, d) for _, t, h, v, w, d in offline] == _history(42)
