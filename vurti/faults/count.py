"""Lost, doubled and stale: what vurti recorded, counted against the simulator's truth.

Pure: plain data in, counts out (definitions in docs/reliability.md).

- The truth of a VM is a sequence of intervals (host, status, start, end) from the
  simulator's transition log; the first is the state at the mark (where vurti had
  converged), the last the state the fleet was frozen in at the end.
- vurti's record of a VM is its VmStateChanged events delivered to the audit log,
  in outbox order.
- doubled: a change whose (old, new) repeats the one before it although that one
  already left the VM in `new` (the same transition applied twice).
- stale: a change written over a state other than the one recorded last, or one
  that the truth cannot account for in order (a state the VM had left for good, or
  never had, when it was written).
- lost: an observable truth interval (it held `observe` seconds outside the
  fault's window, or it is the final state) that no recorded change matches.
Matching is an order-preserving alignment that minimises lost + stale: a change to
status S recorded at time a matches a later interval in S that began before a; an
interval in the status the record already shows is covered without a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# vurti's own step of a migration hand-over (the VM on its destination before the
# destination reports it Up); the simulator's truth has it only for a post-copy phase, so
# a recorded one the truth cannot place is not held against vurti.
HAND_OVER = frozenset({"MigratingTo"})
CLOCK_SLACK = 0.5  # seconds: a change may be stamped this much before the truth's own stamp


@dataclass(frozen=True)
class Truth:
    """One change of a VM's truth: from `at` on it was `status` on `host` (None: down everywhere)."""

    vm_id: str
    at: float
    host: str | None
    status: str


@dataclass(frozen=True)
class Change:
    """One VmStateChanged vurti delivered: outbox id, VM, old and new status, analysis time."""

    outbox_id: int
    vm_id: str
    old: str
    new: str
    at: float


@dataclass(frozen=True)
class Window:
    mark: float  # counting starts (vurti had converged on a frozen fleet)
    fault_start: float
    fault_end: float
    end: float  # the fleet frozen for the final comparison
    observe: float  # seconds a state must hold outside the fault to be observable


@dataclass(frozen=True)
class Interval:
    status: str
    host: str | None
    start: float
    end: float
    observable: bool


@dataclass(frozen=True)
class Counts:
    lost: int = 0
    doubled: int = 0
    stale: int = 0
    observable: int = 0  # truth intervals after the mark that had to be recorded
    recorded: int = 0  # changes delivered after the mark
    details: tuple[str, ...] = field(default=())

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.lost + other.lost, self.doubled + other.doubled, self.stale + other.stale,
                      self.observable + other.observable, self.recorded + other.recorded,
                      self.details + other.details)


def held_outside(start: float, end: float, window: Window) -> float:
    """How long [start, end) lasted before the fault began or after it ended."""
    before = max(0.0, min(end, window.fault_start) - start)
    after = max(0.0, end - max(start, window.fault_end))
    return max(before, after)


def intervals(initial: Truth, later: Sequence[Truth], window: Window) -> list[Interval]:
    """The VM's truth from the mark to the end; the final interval is always observable."""
    points = [Truth(initial.vm_id, window.mark, initial.host, initial.status)]
    points += [t for t in later if window.mark < t.at <= window.end]
    out = []
    for i, t in enumerate(points):
        last = i == len(points) - 1
        end = window.end if last else points[i + 1].at
        observable = last or held_outside(t.at, end, window) >= window.observe
        out.append(Interval(t.status, t.host, t.at, end, observable))
    return out


def count_vm(vm_id: str, truth: list[Interval], changes: Sequence[Change], stored_at_mark: str) -> Counts:
    doubled, broken, kept = 0, 0, []
    details: list[str] = []
    prev: Change | None = None
    last_new = stored_at_mark
    for c in sorted(changes, key=lambda c: c.outbox_id):
        if c.old != last_new:
            if prev is not None and (prev.old, prev.new) == (c.old, c.new):
                doubled += 1
                details.append(f"doubled {vm_id}: {c.old}->{c.new} (outbox {prev.outbox_id}, {c.outbox_id})")
                continue
            broken += 1
            details.append(f"stale {vm_id}: {c.old}->{c.new} written over {last_new} (outbox {c.outbox_id})")
        prev, last_new = c, c.new
        kept.append(c)
    lost, unmatched, missed = _align(truth, kept)
    details += [f"stale {vm_id}: ->{c.new} at {c.at:.3f} matches no later truth (outbox {c.outbox_id})"
                for c in unmatched]
    details += [f"lost {vm_id}: {iv.status} on {iv.host} from {iv.start:.3f} to {iv.end:.3f}" for iv in missed]
    return Counts(lost, doubled, broken + len(unmatched), sum(iv.observable for iv in truth[1:]), len(changes),
                  tuple(details))


def _align(truth: list[Interval], changes: list[Change]) -> tuple[int, list[Change], list[Interval]]:
    """Order-preserving match of changes to truth intervals (index 0 is matched: the converged mark)
    minimising unmatched changes + unmatched observable intervals. Returns lost, stale changes, missed.

    A later interval in the status the record already shows needs no change of its own (the VM
    left that status and came back unseen): it is covered, at the cost of the observable ones between.
    """
    n = len(truth)
    inf = float("inf")
    Path = tuple[tuple[int, int], ...]  # (change index or -1, interval index or -1)
    skipped = [[0] * n for _ in range(n)]  # observable intervals strictly between j and q
    for j in range(n):
        run = 0
        for q in range(j + 1, n):
            skipped[j][q] = run
            run += truth[q].observable

    def covered(best: list[tuple[float, Path]]) -> list[tuple[float, Path]]:
        for j in range(n):
            cost, path = best[j]
            if cost == inf:
                continue
            for q in range(j + 1, n):
                if truth[q].status == truth[j].status and cost + skipped[j][q] < best[q][0]:
                    best[q] = (cost + skipped[j][q], (*path, (-1, q)))
        return best

    best: list[tuple[float, Path]] = [(inf, ())] * n
    best[0] = (0.0, ())
    best = covered(best)
    for i, c in enumerate(changes):
        stale = 0 if c.new in HAND_OVER else 1
        nxt: list[tuple[float, Path]] = [(cost + stale, (*path, (i, -1))) for cost, path in best]
        for j, (cost, path) in enumerate(best):
            if cost == inf:
                continue
            for q in range(j + 1, n):
                iv = truth[q]
                if iv.start > c.at + CLOCK_SLACK:
                    break
                if iv.status == c.new and cost + skipped[j][q] < nxt[q][0]:
                    nxt[q] = (cost + skipped[j][q], (*path, (i, q)))
        best = covered(nxt)
    tail = [sum(iv.observable for iv in truth[j + 1:]) for j in range(n)]
    j = min(range(n), key=lambda j: best[j][0] + tail[j])
    path = best[j][1]
    matched = {q for _, q in path if q >= 0}
    unmatched = [changes[i] for i, q in path if q < 0 <= i and changes[i].new not in HAND_OVER]
    missed = [iv for q, iv in enumerate(truth) if q > 0 and iv.observable and q not in matched]
    return len(missed), unmatched, missed


def count(window: Window, initial: Mapping[str, Truth], later: Iterable[Truth], changes: Iterable[Change],
          stored_at_mark: Mapping[str, str], only: Iterable[str] | None = None) -> Counts:
    """Counts over every VM of `initial` (or of `only`)."""
    by_vm_truth: dict[str, list[Truth]] = {}
    for t in later:
        by_vm_truth.setdefault(t.vm_id, []).append(t)
    by_vm_changes: dict[str, list[Change]] = {}
    for c in changes:
        by_vm_changes.setdefault(c.vm_id, []).append(c)
    total = Counts()
    for vm_id in sorted(only if only is not None else initial):
        truth = intervals(initial[vm_id], sorted(by_vm_truth.get(vm_id, []), key=lambda t: t.at), window)
        total += count_vm(vm_id, truth, by_vm_changes.get(vm_id, []), stored_at_mark.get(vm_id, initial[vm_id].status))
    return total
