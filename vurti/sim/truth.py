"""The ground truth over time: every change of a VM's engine-side (host, status), with its wall time.

The fault suite (`vurti.faults`) counts what vurti recorded against this log. A
change is logged when a VM's `actions.truth` differs from the last one logged, so
steps that leave the truth as it was (a migration's destination record appearing)
add nothing. Times are `time.time()`, the clock vurti stamps its events with.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from vurti.sim import actions
from vurti.sim.fleet import HISTORY_LIMIT, Fleet

Transition = tuple[int, float, str, str | None, str]  # seq, wall time, VM id, host name (None: down), status


class TruthLog:
    def __init__(self, fleet: Fleet, clock: Callable[[], float] = time.time, limit: int = HISTORY_LIMIT) -> None:
        self.fleet = fleet
        self.clock = clock
        self.rows: deque[Transition] = deque(maxlen=limit)
        self.seq = 0
        self.last: dict[str, tuple[str | None, str]] = {}
        for vm_id in fleet.vms:
            self.note(vm_id)
        fleet.watchers.append(self.note)

    def note(self, vm_id: str) -> None:
        spec = self.fleet.vms.get(vm_id)
        if spec is None:
            return
        truth = actions.truth(spec)
        now = (truth["host"], str(truth["status"]))
        if self.last.get(vm_id) == now:
            return
        self.last[vm_id] = now
        self.seq += 1
        self.rows.append((self.seq, self.clock(), vm_id, now[0], now[1]))

    def since(self, seq: int) -> list[Transition]:
        return [row for row in self.rows if row[0] > seq]
