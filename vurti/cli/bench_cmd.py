"""`vurti bench`: the whole pipeline against a simulated fleet, measured, with the bare polling limit."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click


@click.command("bench")
@click.option("--hosts", default=500, show_default=True, type=click.IntRange(1, 20_000))
@click.option("--vms-per-host", default=20, show_default=True, type=click.IntRange(0, 500))
@click.option("--churn", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Simulator life events per host per minute (0: steady state).")
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(2),
              help="Measured time: half quiet, half with detection probes.")
@click.option("--interval", default=3.0, show_default=True, type=click.FloatRange(0.05))
@click.option("--stats-every", default=5, show_default=True, type=click.IntRange(1))
@click.option("--db", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--fetch-workers", default=1, show_default=True, type=click.IntRange(1, 16))
@click.option("--fetch-threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="Celery threads per fetch worker.")
@click.option("--fetch-concurrency", default=64, show_default=True, type=click.IntRange(1, 512),
              help="Concurrent agent calls per fetch worker (and per bare-loop process).")
@click.option("--fetch-batch", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="Hosts per fetch_hosts message (VURTI_FETCH_BATCH).")
@click.option("--update-concurrency", default=None, type=click.IntRange(1, 32),
              help="Update worker processes [default: 1 on SQLite, which takes one writer at a time; 2 on PostgreSQL].")
@click.option("--events-worker", is_flag=True,
              help="One more update worker (solo) that reads only the pushed events' queue.")
@click.option("--probes-per-s", default=1.0, show_default=True, type=click.FloatRange(0),
              help="VM pauses/resumes per second to time detection (0: no probe window).")
@click.option("--bare-seconds", default=15.0, show_default=True, type=click.FloatRange(1))
@click.option("--push/--no-push", default=False, show_default=True,
              help="Fetch workers subscribe to the hosts' events; polls slow to --push-interval.")
@click.option("--push-interval", default=15.0, show_default=True, type=click.FloatRange(0.1),
              help="Safety-net poll interval of a host whose events flow.")
@click.option("--tls/--no-tls", default=True, show_default=True, help="Agents over TLS (the simulator's engine CA).")
@click.option("--profile-seconds", default=0.0, type=click.FloatRange(0),
              help="Also sample the workers with py-spy for this long.")
@click.option("--task-events", is_flag=True,
              help="Workers and beat send the task events Flower needs (measures their cost).")
@click.option("--warmup-max", default=300.0, show_default=True, type=click.FloatRange(10),
              help="Seconds the warm-up may take before the run gives up.")
@click.option("--warmup-up", default=1.0, show_default=True, type=click.FloatRange(0.01, 1.0),
              help="Share of the hosts that must be Up to end the warm-up (below 1: measure a fleet "
                   "part of which never came Up; the count goes into the results).")
@click.option("--workdir", default=".vurti-bench", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--results-dir", default="benchmarks/results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--markdown", default="docs/benchmarks.md", show_default=True, type=click.Path(dir_okay=False),
              help="Append a row here ('' to skip).")
@click.option("--plot", "plot_png", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also plot lag and latency vs fleet size of all results to this PNG.")
@click.option("--plot-only", is_flag=True, help="Only plot the results already in --results-dir.")
def bench(hosts: int, vms_per_host: int, churn: float, seconds: float, interval: float, stats_every: int, db: str,
          fetch_workers: int, fetch_threads: int, fetch_concurrency: int, fetch_batch: int,
          update_concurrency: int | None, events_worker: bool,
          probes_per_s: float, bare_seconds: float, push: bool, push_interval: float, tls: bool,
          profile_seconds: float, task_events: bool, warmup_max: float, warmup_up: float, workdir: Path,
          results_dir: Path,
          markdown: str, plot_png: Path | None, plot_only: bool) -> None:
    """Start the simulator, redis-server, the database, workers and beat; measure; print and record the figures."""
    from vurti.bench import report

    if plot_only:
        png = report.plot(results_dir, plot_png or Path("docs/bench-scaling.png"))
        click.echo(f"plot: {png}" if png else f"no results with detection figures in {results_dir}")
        return
    from vurti.bench.progress import progress_bar
    from vurti.bench.runner import BenchConfig, BenchRun

    cfg = BenchConfig(hosts=hosts, vms_per_host=vms_per_host, churn=churn, seconds=seconds, interval=interval,
                      stats_every=stats_every, db=db, fetch_workers=fetch_workers, fetch_threads=fetch_threads,
                      fetch_concurrency=fetch_concurrency, fetch_batch=fetch_batch,
                      update_concurrency=update_concurrency or (1 if db == "sqlite" else 2),
                      events_worker=events_worker,
                      probes_per_s=probes_per_s, bare_seconds=bare_seconds, profile_seconds=profile_seconds,
                      push=push, push_interval=push_interval, tls=tls, task_events=task_events, workdir=workdir,
                      warmup_max=warmup_max, warmup_up=warmup_up)
    def stop(*_: object) -> None:
        raise SystemExit(143)  # unwinds through BenchRun.run, which stops every process it started

    signal.signal(signal.SIGTERM, stop)
    with progress_bar() as progress:
        result = BenchRun(cfg, progress).run()
    result["finished_at"] = time.time()
    result["machine"] = report.machine()
    result["commit"] = report.commit(Path.cwd())
    path = report.write_json(result, results_dir)
    for line in report.console_lines(result):
        click.echo(line)
    click.echo(f"results: {path}")
    if markdown:
        report.append_md(result, Path(markdown))
        click.echo(f"row appended to {markdown}")
    if plot_png:
        click.echo(f"plot: {report.plot(results_dir, plot_png)}")
