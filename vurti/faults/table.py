"""The suite's table, as text for the terminal and as Markdown for docs/reliability.md."""

from __future__ import annotations

from collections.abc import Sequence

from vurti.faults.runner import Result

HEAD = ("fault", "db", "lost", "doubled", "stale", "converge s", "observable", "recorded", "restarted")


def rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    return [(r.fault, r.db, str(r.counts.lost), str(r.counts.doubled), str(r.counts.stale),
             f"{r.converge_s:.1f}" if r.converge_s is not None else "no",
             str(r.counts.observable), str(r.counts.recorded), ", ".join(r.revived) or "-") for r in results]


def text(results: Sequence[Result]) -> str:
    body = [HEAD, *rows(results)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEAD))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))) for row in body)


def markdown(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)
