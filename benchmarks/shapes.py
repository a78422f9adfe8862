"""The two record shapes the benchmark server serves: ``nested`` and ``flat``.

``nested`` is the fake server's record as ``accutics_async.testing.generate_records``
makes it: about 1.1 KB, 22 fields, the author and updater as nested objects,
the tags as a list. ``flat`` is the same record flattened to 26 scalar fields
(``author_id``, ``author_name``, ..., the tags joined by commas,
``input_segment`` always present, null when the record has none), about the
same size: string, int and timestamp fields only, the shape of a CSV-like
export, where per-item work is mostly per field rather than per object.

Both start with ``id``, so the server can splice unique ids into cached bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accutics_async.testing import generate_records

SHAPES = ("nested", "flat")


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """The ``flat`` shape of one nested record (key order: ``id`` first)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for inner, scalar in value.items():
                flat[f"{key}_{inner}"] = scalar
        elif isinstance(value, list):
            flat[key] = ",".join(value)
        else:
            flat[key] = value
    flat.setdefault("input_segment", None)
    return flat


def records(shape: str, count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` records of ``shape``, deterministic for ``seed``."""
    if shape not in SHAPES:
        raise ValueError(f"unknown record shape {shape!r}; expected one of {SHAPES}")
    for record in generate_records(count, seed=seed):
        yield record if shape == "nested" else flatten(record)


__all__ = ["SHAPES", "flatten", "records"]
