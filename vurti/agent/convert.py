"""Field readers for VDSM replies: numbers that may be strings, maps of device records.

Each reader returns the field's value or its default, and appends the field's
name to `bad` when the value is present but unusable, so a caller can warn once
per record instead of failing. Only the failure path raises internally.
"""

from __future__ import annotations

from typing import Any

from vurti.domain.report import DiskStats, NicStats

INT64_LIMIT = 1 << 63  # keep ints within int64: JSON encoders and databases downstream
_NS = 1e9
_NIC_STATES = frozenset({"up", "down", "unknown"})


def brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_float(value: object) -> float | None:
    """A finite float from a number or a numeric string; None otherwise."""
    t = type(value)
    if t is str or t is float or t is int:
        try:
            f = float(value)  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            return None
        if f - f == 0.0:  # finite: nan and inf give nan
            return f
    return None


def to_int(value: object) -> int | None:
    """An int64 from an int, an integral or decimal string, or a float; None otherwise."""
    t = type(value)
    if t is int:
        i: int = value  # type: ignore[assignment]
    elif t is str:
        try:
            i = int(value)  # type: ignore[call-overload]
        except ValueError:
            f = to_float(value)
            if f is None or not -INT64_LIMIT <= f < INT64_LIMIT:
                return None
            return int(f)
    elif t is float:
        x: float = value  # type: ignore[assignment]
        if x - x != 0.0 or not -INT64_LIMIT <= x < INT64_LIMIT:
            return None
        return int(x)
    else:
        return None
    return i if -INT64_LIMIT <= i < INT64_LIMIT else None


def get_float(d: dict[str, Any], key: str, bad: list[str], default: float = 0.0) -> float:
    v = d.get(key)
    if v is None:
        return default
    # to_float, inlined: a statistics poll reads ~500 numbers and the call was a fifth of the cost.
    t = type(v)
    if t is str or t is float or t is int:
        try:
            f = float(v)
        except (ValueError, OverflowError):
            pass
        else:
            if f - f == 0.0:
                return f
    bad.append(key)
    return default


def get_int(d: dict[str, Any], key: str, bad: list[str], default: int | None = 0) -> Any:
    v = d.get(key)
    if v is None:
        return default
    if type(v) is str:  # the wire's usual form, without a call to to_int; anything else goes through it
        try:
            i = int(v)
        except ValueError:
            pass
        else:
            if -INT64_LIMIT <= i < INT64_LIMIT:
                return i
    r = to_int(v)
    if r is None:
        bad.append(key)
        return default
    return r


def get_str(d: dict[str, Any], key: str, bad: list[str]) -> str | None:
    v = d.get(key)
    if v is None or type(v) is str:
        return v
    bad.append(key)
    return None


def get_dict(d: dict[str, Any], key: str, bad: list[str]) -> dict[str, Any] | None:
    v = d.get(key)
    if v is None or type(v) is dict:
        return v
    bad.append(key)
    return None


def nic_stats(name: str, n: dict[str, Any], bad: list[str]) -> NicStats:
    state = n.get("state")
    if type(state) is not str or state not in _NIC_STATES:
        if state is not None:
            bad.append("state")
        state = "unknown"
    return NicStats(
        name=name,
        state=state,
        speed=get_int(n, "speed", bad),
        # VDSM sends counters (rx, tx) and sampleTime; the analyzer derives the rates.
        # Older agents sent rxRate/txRate themselves: kept when present.
        rx_rate=_optional_float(n, "rxRate", bad),
        tx_rate=_optional_float(n, "txRate", bad),
        rx_bytes=get_int(n, "rx", bad),
        tx_bytes=get_int(n, "tx", bad),
        rx_errors=get_int(n, "rxErrors", bad),
        tx_errors=get_int(n, "txErrors", bad),
        rx_dropped=get_int(n, "rxDropped", bad),
        tx_dropped=get_int(n, "txDropped", bad),
        sample_time=_optional_float(n, "sampleTime", bad),
    )


def disk_stats(name: str, d: dict[str, Any], bad: list[str]) -> DiskStats:
    return DiskStats(
        name=name,
        read_rate=get_float(d, "readRate", bad),
        write_rate=get_float(d, "writeRate", bad),
        read_latency=_seconds(d, "readLatency", bad),
        write_latency=_seconds(d, "writeLatency", bad),
        flush_latency=_seconds(d, "flushLatency", bad),
        apparent_size=get_int(d, "apparentsize", bad),
        true_size=get_int(d, "truesize", bad),
    )


def _optional_float(d: dict[str, Any], key: str, bad: list[str]) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    f = to_float(v)
    if f is None:
        bad.append(key)
    return f


def _seconds(d: dict[str, Any], key: str, bad: list[str]) -> float | None:
    """A latency in nanoseconds (VDSM) as seconds; absent or unreadable is unknown, not 0."""
    f = _optional_float(d, key, bad)
    return None if f is None else f / _NS


def devices(raw: dict[str, Any] | None, key: str, bad: list[str], build: Any) -> tuple[Any, ...]:
    """Map name -> record into a tuple, naming bad fields as `key.name.field`."""
    if not raw:
        return ()
    out = []
    for name, rec in raw.items():
        if type(rec) is not dict:
            bad.append(f"{key}.{name}")
            continue
        sub: list[str] = []
        out.append(build(name, rec, sub))
        if sub:
            bad.extend(f"{key}.{name}.{field}" for field in sub)
    return tuple(out)
