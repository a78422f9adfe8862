"""Terminal output of the ``accutics`` command: one-line messages, summaries, progress bar.

rich (from the ``cli`` extra) is imported only when a bar is drawn, so the
rest of the command works without it.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..export import ExportProgress, ExportResult
from ._exits import UsageError
from ._safety import terminal_text

__all__ = ["err", "progress_bar", "summary"]


def err(message: str) -> None:
    # Messages quote the server's text: its control characters are shown, not obeyed.
    print(f"accutics: {terminal_text(message)}", file=sys.stderr, flush=True)


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError  # pragma: no cover


def _where(out: str) -> str:
    return "standard output" if out == "-" else os.path.abspath(out)


def summary(result: ExportResult) -> str:
    resumed = f", resumed after {result.resumed_records:,}" if result.resumed_records else ""
    return (
        f"wrote {result.records:,} records to {_where(result.out)} "
        f"({_size(result.bytes)}) in {result.elapsed_s:.2f} s: "
        f"{result.records_per_s:,.0f} records/s{resumed}"
    )


def _eta_column() -> Any:
    """A column showing "ETA h:mm:ss" only when the total is known (a cursor walk has none)."""
    from rich.progress import ProgressColumn, Task, TimeRemainingColumn
    from rich.text import Text

    class Eta(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._remaining = TimeRemainingColumn()

        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text.assemble("ETA ", self._remaining.render(task))

    return Eta()


class _Bar:
    """A rich progress bar on stderr fed by ``ExportProgress`` callbacks."""

    def __init__(self, description: str) -> None:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            raise UsageError(
                "the progress bar needs rich: pip install 'accutics-async[cli]' "
                "(or pass --no-progress)"
            ) from None
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            _eta_column(),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=None, count="", rate="")

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, progress: ExportProgress) -> None:
        total = progress.total_items
        count = f"{progress.records:,}" + (f"/{total:,}" if total is not None else "")
        self._progress.update(
            self._task,
            completed=progress.records,
            total=total,
            count=f"{count} records",
            rate=f"{progress.records_per_s:,.0f} rec/s",
        )


def progress_bar(
    args: argparse.Namespace, description: str
) -> tuple[AbstractContextManager[Any], Any]:
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if not show:
        return nullcontext(), None
    bar = _Bar(description)
    return bar, bar.update
