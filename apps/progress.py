"""A rich progress bar for the CLI edge, fed by the services' ``progress(stage, done, total)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def progress_bar() -> tuple[Any, Callable[[str, int, int], None]]:
    """A ``rich.progress.Progress`` (use it as a context manager) and the callback that drives it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update
