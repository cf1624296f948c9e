"""Prototype of the update tier's next design step: statistics kept by the host's holder.

Today every statistics cycle of a host travels fetch -> Celery message -> update
worker, which takes the host's lock, loads its snapshot (host, VMs, their usage
histories and NIC counters), analyzes status and statistics together and writes.
Most of those cycles change no status: only the figures move.

The step measured here: the fetch worker that holds a host's link (its rendezvous
owner, stable while membership is) keeps each VM's usage (histories, NIC counters)
in memory, computes the cycle's statistics itself (`analyze.usage.sample`, the same
pure rule), and writes the statistics rows of its whole batch in one executemany per
table, one commit; only a report whose status digest changed goes to the update tier,
as today. No message, no lock, no snapshot for a figures-only cycle.

Both paths get the same decoded reports of a statistics cycle of B hosts and write
the same SQLite (or VURTI_DATABASE_URL) database; thread CPU time per host:

    .venv/bin/python benchmarks/stats_path.py [--hosts 25] [--vms 20] [--rounds 40]

The message a report costs today (encode in fetch, decode in update) is printed
beside them; the prototype has none.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from vurti.agent.plan import vm_digest
from vurti.analyze.usage import sample
from vurti.bench.inproc import fleet_up
from vurti.bootstrap import Services
from vurti.domain.model import VmUsage
from vurti.domain.report import HostReport, HostStats, VmStats
from vurti.stack import LocalStack

clock = time.thread_time


class HeldStatistics:
    """The prototype's state in a fetch worker: each VM's usage, and the last status digest per host."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.limit = svc.settings.policy.usage_history_limit
        self.usage: dict[str, VmUsage] = {}
        self.digests: dict[str, str] = {}

    def cycle(self, reports: list[HostReport], now: float) -> list[HostReport]:
        """Write the batch's statistics; return the reports whose status changed (for the update tier)."""
        vm_rows: list[tuple[str, VmStats]] = []
        host_rows: list[tuple[str, HostStats]] = []
        changed = []
        for report in reports:
            vms = report.vms or ()
            digest = vm_digest(vms)
            if self.digests.get(report.host_id) != digest:
                self.digests[report.host_id] = digest
                changed.append(report)
            if report.stats is not None:
                host_rows.append((report.host_id, report.stats))
            for vm in vms:
                if vm.stats is None:
                    continue
                stats, self.usage[vm.vm_id] = sample(vm.stats, self.usage.get(vm.vm_id, VmUsage()), self.limit)
                vm_rows.append((vm.vm_id, stats))
        with self.svc.uow() as uow:
            uow.vms.save_vm_stats(vm_rows, now, self.usage)
            uow.hosts.save_host_stats_many(host_rows, now)
            uow.commit()
        return changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=25, help="hosts per batch")
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Path(tmp))
        try:
            run(stack, Path(tmp), args.hosts, args.vms, args.rounds)
        finally:
            stack.close()


def run(stack: LocalStack, tmp: Path, size: int, vms: int, rounds: int) -> None:
    svc, fleet, now = fleet_up(stack, tmp / "stats.db", size, vms)
    holder = HeldStatistics(svc)
    holder.cycle(fleet.reports(now), now)  # learns the digests; usage starts as the update tier's did
    times: dict[str, list[float]] = {"today": [], "message": [], "prototype": []}
    status_changes = 0
    for _ in range(rounds):
        now += 3
        batch = fleet.reports(now)
        started = clock()
        wire = [msgspec.json.encode(r) for r in batch]
        back = [msgspec.json.decode(w, type=HostReport) for w in wire]
        times["message"].append((clock() - started) * 1e6 / size)
        started = clock()
        outcomes = svc.update.update_many(back)
        times["today"].append((clock() - started) * 1e6 / size)
        assert all(o.applied for o in outcomes), outcomes
        now += 3
        batch = fleet.reports(now)
        started = clock()
        status_changes += len(holder.cycle(batch, now))
        times["prototype"].append((clock() - started) * 1e6 / size)
    probe = next(vm.vm_id for vm in batch[0].vms or () if vm.stats is not None)
    with svc.uow() as uow:
        written = uow.vms.get_vm_stats(probe)
    assert written is not None and written[0] == now, "the prototype's last cycle wrote no statistics row"
    print(f"a statistics cycle of {size} hosts x {vms} VMs, CPU per host, median of {rounds} rounds (us):")
    print(f"  today: update_many (lock, snapshot, analysis, write)  {statistics.median(times['today']):8.0f}")
    print(f"  today: the report's message (encode + decode)          {statistics.median(times['message']):8.0f}")
    print(f"  prototype: usage in the holder, one write per table   {statistics.median(times['prototype']):8.0f}")
    print(f"  reports the prototype still sent to the update tier: {status_changes} of {size * rounds}")
    svc.engine.dispose()
    svc.redis.close()


if __name__ == "__main__":
    main()
