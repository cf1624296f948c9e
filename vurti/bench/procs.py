"""CPU time and memory of processes and their descendants, from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class StatFields:
    pid: int
    ppid: int
    utime: int  # clock ticks
    stime: int
    cutime: int  # of children already waited for
    cstime: int


def parse_stat(text: str) -> StatFields:
    """Parse /proc/<pid>/stat; the command name may hold spaces and parentheses."""
    head, rest = text.rsplit(")", 1)
    pid = int(head.split("(", 1)[0])
    f = rest.split()
    # f[0] is state (field 3); utime is field 14 -> f[11]
    return StatFields(pid, int(f[1]), int(f[11]), int(f[12]), int(f[13]), int(f[14]))


def parse_status_kib(text: str, key: str) -> int:
    """A `Key:   123 kB` line of /proc/<pid>/status, in KiB (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _read(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def all_stats() -> dict[int, StatFields]:
    out: dict[int, StatFields] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            text = _read(int(entry), "stat")
            if text:
                try:
                    out[int(entry)] = parse_stat(text)
                except (ValueError, IndexError):
                    continue
    return out


def descendants(root: int, stats: dict[int, StatFields]) -> list[int]:
    """root and every live process below it."""
    children: dict[int, list[int]] = {}
    for s in stats.values():
        children.setdefault(s.ppid, []).append(s.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int, stats: dict[int, StatFields]) -> float:
    """CPU seconds (user + system) of root, its live descendants and its reaped children."""
    ticks = 0
    for pid in descendants(root, stats):
        s = stats[pid]
        ticks += s.utime + s.stime
        if pid == root:
            ticks += s.cutime + s.cstime
    return ticks / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of one process so far; 0 when it is gone."""
    text = _read(pid, "stat")
    if not text:
        return 0.0
    s = parse_stat(text)
    return (s.utime + s.stime) / CLK_TCK


def rss_mib(pid: int) -> float:
    """Resident set (VmRSS) of one process now, MiB; 0 when it is gone."""
    text = _read(pid, "status")
    return parse_status_kib(text, "VmRSS") / 1024 if text else 0.0


def peak_rss_mib(pids: Iterable[int]) -> dict[int, float]:
    """VmHWM (peak resident set) of each process, MiB."""
    out = {}
    for pid in pids:
        text = _read(pid, "status")
        if text:
            out[pid] = round(parse_status_kib(text, "VmHWM") / 1024, 1)
    return out
