"""The four goal figures of issue 13, each the median ratio of adjacent pairs.

A figure compares the library with the loop a user would write instead, on
the same listing of the same server. One *pair* is a library run followed at
once by the raw run; its ratio is ``library rate / raw rate`` from those two
adjacent runs, so a slow drift of a shared machine (another job starting,
the CPU clocking down) hits both sides of a pair alike instead of the
medians of two separately collected series. Every figure gets one untimed
warm-up run of each side (connections, caches, the server's page cache),
then ``rounds`` pairs; it reports the median of the pair ratios with their
min and max. The rounds go figure after figure (round 1 of every figure,
then round 2, ...), so the figures share the run's conditions too. Before
each timed run the garbage collector runs (untimed), so neither side pays
for the other's garbage.

Figures (goal key: what, both record shapes of ``shapes``):

- ``dicts_seq``: ``paginate()`` dicts, sequential, against raw aiohttp +
  ``orjson.loads`` following ``next``.
- ``typed``: ``paginate(model=M)`` against raw aiohttp + orjson +
  ``cattrs.preconf.orjson.make_converter().structure(item, M)`` per item,
  ``M`` the same attrs class (``UserRecord`` nested, ``FlatRecord`` flat).
- ``dicts_c8``: ``paginate(concurrency=8)`` against a raw loop with 8 pages
  in flight (no latency).
- ``latency_c16``: ``paginate(concurrency=16)`` against a raw loop with 16
  pages in flight, both against the server answering each page after 20 ms.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from . import variants as v
from .models import MODELS

FIGURES = ("dicts_seq", "typed", "dicts_c8", "latency_c16")
TARGETS = {"dicts_seq": 1.00, "typed": 1.30, "dicts_c8": 0.85, "latency_c16": 0.95}
LABELS = {
    "dicts_seq": "paginate() dicts, sequential vs raw aiohttp + orjson following next",
    "typed": "paginate(model=M) vs raw aiohttp + orjson + naive cattrs structure(item, M)",
    "dicts_c8": "concurrency=8, no latency, vs a raw loop with 8 pages in flight",
    "latency_c16": "concurrency=16, 20 ms per page, vs a raw loop with 16 pages in flight",
}


@attrs.frozen
class Pair:
    """One figure on one record shape: the library's walk and the raw one, same target."""

    figure: str
    shape: str
    lib_label: str
    raw_label: str
    lib: v.Walk
    raw: v.Walk
    target: v.Target

    @property
    def key(self) -> str:
        return f"{self.figure}_{self.shape}"


def build(
    figures: Sequence[str],
    shapes: Sequence[str],
    sizes: dict[str, int],
    base: str,
    slow_base: str,
    token: str,
) -> list[Pair]:
    """The pairs for ``figures`` x ``shapes``; ``sizes`` is records per listing by figure.

    ``base`` is the server without latency, ``slow_base`` the one with it.
    """
    pairs = []
    for figure in figures:
        for shape in shapes:
            url = f"{slow_base if figure == 'latency_c16' else base}/{shape}/{sizes[figure]}"
            target = v.Target(url, token, "/records", 100)
            model = MODELS[shape]
            lib, raw, lib_label, raw_label = {
                "dicts_seq": (
                    v.library(),
                    v.raw_aiohttp_orjson,
                    "paginate() dicts, sequential",
                    "raw aiohttp + orjson, following next",
                ),
                "typed": (
                    v.library(model=model),
                    v.cattrs_loop(model),
                    f"paginate(model={model.__name__})",
                    f"raw aiohttp + orjson + naive cattrs ({model.__name__})",
                ),
                "dicts_c8": (
                    v.library(concurrency=8),
                    v.raw_concurrent(8),
                    "paginate(concurrency=8) dicts",
                    "raw aiohttp + orjson, 8 in flight",
                ),
                "latency_c16": (
                    v.library(concurrency=16),
                    v.raw_concurrent(16),
                    "paginate(concurrency=16) dicts, 20 ms/page",
                    "raw aiohttp + orjson, 16 in flight, 20 ms/page",
                ),
            }[figure]
            pairs.append(Pair(figure, shape, lib_label, raw_label, lib, raw, target))
    return pairs


async def _timed(walk: v.Walk, target: v.Target, clock: Callable[[], float]) -> tuple[int, float]:
    gc.collect()
    started = clock()
    items, _ = await walk(target)
    return items, clock() - started


def _stats(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": list(samples),
    }


async def measure(
    pairs: Sequence[Pair],
    rounds: int,
    note: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Warm every pair up, then ``rounds`` rounds of adjacent (library, raw) runs.

    Returns the group's ``rows`` (each side's rates) and ``pairs`` (each
    figure and shape's ratios: ``samples`` in round order, median, min, max).
    """
    for pair in pairs:
        await pair.lib(pair.target)
        await pair.raw(pair.target)
    rates: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {pair.key: [] for pair in pairs}
    for done in range(rounds):
        for pair in pairs:
            lib_items, lib_s = await _timed(pair.lib, pair.target, clock)
            raw_items, raw_s = await _timed(pair.raw, pair.target, clock)
            if lib_items != raw_items:
                # A ratio of two walks over different items would measure nothing.
                raise RuntimeError(f"{pair.key}: library {lib_items} items, raw {raw_items}")
            rates.setdefault(f"{pair.key}_lib", []).append(lib_items / lib_s)
            rates.setdefault(f"{pair.key}_raw", []).append(raw_items / raw_s)
            ratios[pair.key].append((lib_items / lib_s) / (raw_items / raw_s))
        if note is not None:
            note(f"  pairs: round {done + 1}/{rounds}")
    rows = []
    for pair in pairs:
        for side, label in (("lib", pair.lib_label), ("raw", pair.raw_label)):
            key = f"{pair.key}_{side}"
            rows.append(
                {
                    "key": key,
                    "label": f"{label} ({pair.shape})",
                    "unit": "records/s",
                    **_stats(rates[key]),
                }
            )
    return {
        "rows": rows,
        "pairs": [
            {
                "key": pair.key,
                "figure": pair.figure,
                "shape": pair.shape,
                "label": LABELS[pair.figure],
                "lib": f"{pair.key}_lib",
                "raw": f"{pair.key}_raw",
                **_stats(ratios[pair.key]),
            }
            for pair in pairs
        ],
    }


__all__ = ["FIGURES", "LABELS", "TARGETS", "Pair", "build", "measure"]
