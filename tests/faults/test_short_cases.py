"""The fault suite's short cases, as CI runs them: real redis-server, celery workers and beat,
the simulator with churn; each must lose, double and overwrite nothing and converge in time.

The whole suite (`scripts/faults.sh`) also covers the long cases (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vurti.faults.cases import CASES
from vurti.faults.runner import CI_POST, CI_PRE, run_case

SHORT = [c for c in CASES if c.short]
CONVERGE_WITHIN = 30.0  # seconds after the fault ends; a busy 2-core machine included


@pytest.mark.parametrize("case", SHORT, ids=[c.name for c in SHORT])
def test_short_fault_case(case: object, tmp_path: Path) -> None:
    result = run_case(case, "sqlite", tmp_path, pre=CI_PRE, post=CI_POST)  # type: ignore[arg-type]
    counts = result.counts
    assert counts.observable > 0 and counts.recorded > 0, result  # the fleet churned and vurti recorded it
    assert (counts.lost, counts.doubled, counts.stale) == (0, 0, 0), counts.details
    assert result.converge_s is not None and result.converge_s < CONVERGE_WITHIN, result.notes
