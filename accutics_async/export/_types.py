"""What an export hands back (progress reports, the result) and the format it writes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

import attrs

from ..errors import ExportError
from ._formats import FORMATS

__all__ = [
    "ExportFormat",
    "ExportProgress",
    "ExportResult",
    "ProgressCallback",
    "resolve_format",
]

ExportFormat = Literal["jsonl", "csv"]


@attrs.frozen
class ExportProgress:
    """Where an export stands, handed to the ``progress`` callback after each page.

    ``records`` and ``pages`` count everything in the file, including what an
    earlier, interrupted run wrote (``resumed_records``); ``total_items`` is
    the listing's size when the API reports it (page-number endpoints), else
    ``None``; ``elapsed_s`` counts this run only.
    """

    records: int
    pages: int
    total_items: int | None
    elapsed_s: float
    resumed_records: int = 0

    @property
    def records_per_s(self) -> float:
        """Records written per second by this run."""
        done = self.records - self.resumed_records
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[ExportProgress], object]


@attrs.frozen
class ExportResult:
    """A finished export: the file ``out`` holds ``records`` records in ``bytes`` bytes."""

    out: str
    format: str
    records: int
    pages: int
    bytes: int
    elapsed_s: float
    resumed_records: int = 0
    total_items: int | None = None

    @property
    def records_per_s(self) -> float:
        """Records written per second by this run (resumed records not counted)."""
        done = self.records - self.resumed_records
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def resolve_format(out: str | os.PathLike[str], fmt: str | None) -> str:
    """``fmt`` if given, else from the suffix of ``out``: ``.csv`` (any case) is CSV, else JSONL."""
    if fmt is not None:
        return _check_format(fmt)
    return "csv" if os.fspath(out).lower().endswith(".csv") else "jsonl"
