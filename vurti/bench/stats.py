"""Percentiles and summaries of samples (pure; the benchmark's figures are built from these)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p99, max and mean, rounded to the millisecond's tenth for readable JSON."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(values),
        "p50": _round(percentile(values, 50)),
        "p99": _round(percentile(values, 99)),
        "max": _round(max(values)),
        "mean": _round(sum(values) / len(values)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def per(count: float, base: float, scale: float = 1.0) -> float | None:
    """count / base * scale, or None when the base is zero."""
    return None if not base else round(count / base * scale, 4)
