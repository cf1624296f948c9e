"""One case from start to counts: converge on a still fleet, churn, fault, converge, churn, count.

Timeline: the fleet held still until vurti has seen it (the mark); churn PRE seconds;
the fault; the fleet held still at the fault's end, seconds to converge measured;
churn POST seconds more (monitoring goes on after the fault); held still again and
compared a last time; then every transition since the mark counted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vurti.faults import observe
from vurti.faults.cases import Case
from vurti.faults.count import Counts, Truth, Window, count
from vurti.faults.rig import OBSERVE, Rig

PRE = 10.0
POST = 15.0
CI_PRE, CI_POST = 5.0, 8.0  # CI's short cases: shorter, still enough churn to count
FINAL_DEADLINE = 60.0


@dataclass(frozen=True)
class Result:
    case: str
    fault: str
    db: str
    counts: Counts
    converge_s: float | None  # None: not converged within the case's deadline
    notes: tuple[str, ...]
    revived: tuple[str, ...] = ()  # processes that exited by themselves and were started again

    @property
    def ok(self) -> bool:
        """Nothing lost, doubled or stale, converged, and something to count (a run without churn proves nothing)."""
        c = self.counts
        return (c.lost == 0 and c.doubled == 0 and c.stale == 0 and self.converge_s is not None
                and c.observable > 0 and c.recorded > 0)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """What a kept work directory offers for tracing a case: the truth's and vurti's events."""
    path.write_text("".join(json.dumps(row, default=str) + "\n" for row in rows))


def run_case(case: Case, db: str, workdir: Path, pre: float = PRE, post: float = POST) -> Result:
    """`pre`, `post`: seconds of churn before the fault and after it (shorter in CI's short cases)."""
    layout = case.layout if case.layout.db == "postgres" else replace(case.layout, db=db)
    rig = Rig(workdir, layout)
    try:
        rig.start()
        rig.wait_ready()
        mark = time.time()
        seq = int(rig.sim.set_clock(False)["seq"])
        at_mark = rig.sim.truth()
        stored = {vm: status for vm, (_, status) in observe.vms(rig.engine).items()}
        watermark = observe.last_outbox_id(rig.engine)

        rig.thaw()
        time.sleep(pre)
        span = case.inject(rig)
        frozen = rig.freeze()
        converge_s, diff = rig.converge(case.converge_deadline)
        if converge_s is not None:  # from the fault's end
            converge_s += max(0.0, frozen - span.end)
        rig.thaw()
        time.sleep(post)
        if span.settle is not None:
            span.settle()
        end = rig.freeze()
        final_s, final = rig.converge(FINAL_DEADLINE)

        initial = {vm: Truth(vm, mark, t.get("host"), str(t["status"])) for vm, t in at_mark.items()}
        transitions = rig.sim.transitions(seq)
        later = [Truth(r["vm_id"], float(r["at"]), r["host"], r["status"]) for r in transitions]
        changes = observe.changes(rig.engine, watermark)
        _write_jsonl(workdir / "truth.jsonl", [dict(r) for r in transitions])
        _write_jsonl(workdir / "events.jsonl", observe.events(rig.engine, watermark))
        clear = Window(mark, end, end, end, OBSERVE)
        fault = Window(mark, span.start, span.end, end, OBSERVE)
        if not case.blind:
            counts = count(clear, initial, later, changes, stored)
        else:
            hidden = set(initial) if span.blind_vms is None else set(span.blind_vms) & set(initial)
            counts = (count(fault, initial, later, changes, stored, only=hidden)
                      + count(clear, initial, later, changes, stored, only=set(initial) - hidden))
        notes = list(span.notes)
        if diff:
            notes.append(f"not converged after the fault within {case.converge_deadline:.0f}s: {diff[:3]}")
        if final:
            stray = [d for d in final if d.startswith("VM ")]
            counts = replace(counts, stale=counts.stale + len(stray), details=counts.details + tuple(final))
            notes.append(f"final state differs after {FINAL_DEADLINE:.0f}s: {final[:3]}")
        elif final_s is not None:
            notes.append(f"final convergence {final_s:.1f}s")
        if rig.revived:
            notes.append(f"exited by themselves and started again: {', '.join(rig.revived)} (see their logs)")
        return Result(case.name, case.fault, layout.db, counts, converge_s, tuple(notes), tuple(rig.revived))
    finally:
        rig.close()
