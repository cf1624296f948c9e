"""A rich progress bar that follows the benchmark's phases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar() -> Iterator[Callable[[str, float, float], None]]:
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<24}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                  TimeElapsedColumn(), transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: float, total: float) -> None:
            if phase not in tasks:
                for other in tasks.values():
                    t = bar.tasks[other]
                    bar.update(other, completed=t.total)
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))

        yield update
