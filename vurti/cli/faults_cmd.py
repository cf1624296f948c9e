"""`vurti faults`: the fault suite against real processes, as a table (docs/reliability.md)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click


@click.command("faults")
@click.option("--short", is_flag=True, help="Only the cases that take well under a minute each (what CI runs).")
@click.option("--case", "names", multiple=True, help="Only this case (repeatable); see --list.")
@click.option("--db", type=click.Choice(["sqlite", "postgres"]), default="sqlite", show_default=True,
              help="The database of the cases that do not need PostgreSQL.")
@click.option("--list", "list_only", is_flag=True, help="List the cases and exit.")
@click.option("--details", is_flag=True, help="Print each lost, doubled or stale transition.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table as Markdown to this file.")
@click.option("--keep", is_flag=True, help="Keep each case's work directory (process logs, truth.jsonl, events.jsonl) for reading.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="Run each chosen case this many times (an intermittent defect shows in some runs only).")
@click.option("--ci-timing", is_flag=True,
              help="Churn around the fault as CI's short cases do (shorter than the whole suite's).")
def faults(short: bool, names: tuple[str, ...], db: str, list_only: bool, details: bool, markdown: Path | None,
           keep: bool, repeat: int, ci_timing: bool) -> None:
    """Inject each fault into redis-server, the database, celery workers and beat monitoring a churning
    simulated fleet; print lost, doubled and stale transitions and the seconds to converge."""
    from vurti.faults.cases import BY_NAME, CASES
    from vurti.faults.runner import CI_POST, CI_PRE, POST, PRE, Result, run_case
    from vurti.faults.table import markdown as as_markdown
    from vurti.faults.table import text

    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise click.BadParameter(f"unknown case {unknown[0]!r}; one of {', '.join(BY_NAME)}", param_hint="--case")
    if list_only:
        for case in CASES:
            click.echo(f"{case.name:22} {'short' if case.short else 'long ':5} {case.fault}")
        return
    chosen = [BY_NAME[n] for n in names] if names else [c for c in CASES if c.short or not short]
    pre, post = (CI_PRE, CI_POST) if ci_timing else (PRE, POST)
    results: list[Result] = []
    for case in [c for c in chosen for _ in range(repeat)]:
        workdir = Path(tempfile.mkdtemp(prefix=f"vurti-fault-{case.name}-"))
        click.echo(f"{case.name}: {case.fault} ...", err=True)
        result = run_case(case, db, workdir, pre=pre, post=post)
        results.append(result)
        verdict = "ok" if result.ok else "FAILED"
        healed = f"{result.converge_s:.1f}s" if result.converge_s is not None else "no time"
        click.echo(f"  {verdict}: lost {result.counts.lost}, doubled {result.counts.doubled}, "
                   f"stale {result.counts.stale}, converged in {healed}; " + "; ".join(result.notes) + (f" (logs: {workdir})" if keep else ""), err=True)
        if details:
            for line in result.counts.details:
                click.echo(f"    {line}", err=True)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    click.echo(text(results))
    if markdown is not None:
        markdown.write_text(as_markdown(results) + "\n")
    if not all(r.ok for r in results):
        raise SystemExit(1)
