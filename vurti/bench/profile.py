"""Sample the workers with py-spy and name the functions where their time goes.

py-spy (`pip install py-spy`), sampling only the thread holding the GIL (a proxy for
Python CPU time, not wall time), writes collapsed stacks (`--format raw`): one line
per distinct stack, frames joined by `;`, then the sample count. Self time is
the innermost frame; inclusive time counts each frame once per stack.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_LINE_NO = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`fetch_many (vurti/pipeline/fetch.py:73)` -> `fetch_many (vurti/pipeline/fetch.py)`, shortened paths."""
    name = _LINE_NO.sub(")", frame.strip())
    return re.sub(r"\(.*?(site-packages/|lib/python3\.\d+/|/work/main/)", "(", name)


def top_functions(collapsed: str, limit: int = 15) -> dict[str, Any]:
    """Samples, and the functions with most self and inclusive samples (as shares of all samples)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    share = (lambda c: round(c / total, 4)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "self": [[f, share(c)] for f, c in own.most_common(limit)],
        "inclusive": [[f, share(c)] for f, c in inclusive.most_common(limit)],
    }


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record_workers(pids: dict[str, int], seconds: float, workdir: Path) -> dict[str, Any]:
    """py-spy each pid (and its subprocesses) at once for `seconds`; the top functions of each."""
    exe = _py_spy()
    if exe is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    runs = {}
    for kind, pid in pids.items():
        out = workdir / f"profile-{kind}.txt"
        runs[kind] = (out, subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil", "--format", "raw",
             "--duration", str(int(seconds)), "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    result: dict[str, Any] = {}
    for kind, (out, proc) in runs.items():
        try:
            _, err = proc.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if out.exists():
            result[kind] = top_functions(out.read_text())
            result[kind]["file"] = str(out)
        else:
            result[kind] = {"error": err.decode(errors="replace")[-500:]}
    return result
