"""Progress reporting, written once for every app.

Pipelines and services take ``progress: Progress = None``, a callback ``progress(stage, done,
total)`` that the edge supplies; :func:`tick` calls it when there is one. The CLI drives a rich bar
with :func:`progress_bar`. Nothing here imports rich until a bar is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
Progress = ProgressFn | None  # optional: no callback, no reporting


def tick(progress: Progress, stage: str, done: int, total: int) -> None:
    """Report ``done`` of ``total`` for ``stage`` to ``progress``, if there is one."""
    if progress is not None:
        progress(stage, done, total)


def progress_bar(title: str | None = None) -> tuple[Any, ProgressFn]:
    """A ``rich.progress.Progress`` (use it as a context manager) and the callback that drives it.

    One row per stage; with ``title``, one row for the whole run that names the current stage
    (for pipelines that report ``(stage, step, steps)``).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        row = title or stage
        if row not in tasks:
            tasks[row] = bar.add_task(row, total=total)
        description = f"{title}: {stage}" if title else stage
        bar.update(tasks[row], description=description, completed=done, total=total)

    return bar, update
