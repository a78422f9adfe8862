"""The goals, each measured in the same run.

The four goal figures of issue 13 (keys ``dicts_seq``, ``typed``,
``dicts_c8``, ``latency_c16``; see ``pairs``) are medians of adjacent-pair
ratios, one per record shape; such a goal holds when it holds on every shape
measured, and its ``ratio`` is the lowest of the shapes' medians (each
shape's median, min and max are in its ``parts``). The others are ratios of
row medians: ``export_throughput`` (export >= 0.80 of dict pagination),
``export_rss`` and ``export_rss_growth`` (peak RSS at the largest export
under 150 MB and at most 1.3x the smallest's), ``import_time``
(``import accutics_async`` <= 1.5x ``import aiohttp``).
"""

from __future__ import annotations

import operator
from typing import Any

from .pairs import FIGURES, LABELS, TARGETS

_OPS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def _rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for group in results["groups"]:
        for row in group["rows"]:
            if row["key"] in rows:
                raise ValueError(f"row key {row['key']!r} is used twice")
            rows[row["key"]] = row
    return rows


def _goal(
    key: str, label: str, ratio: float, target: float, op: str, detail: str
) -> dict[str, Any]:
    holds = _OPS[op](ratio, target)
    return {
        "key": key,
        "label": label,
        "ratio": ratio,
        "target": target,
        "op": op,
        "holds": holds,
        "detail": detail,
    }


def pair_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One goal per figure measured: held when it holds on every record shape."""
    measured = [pair for group in results["groups"] for pair in group.get("pairs", ())]
    goals = []
    for figure in FIGURES:
        parts = [
            {key: pair[key] for key in ("shape", "median", "min", "max")}
            for pair in measured
            if pair["figure"] == figure
        ]
        if not parts:
            continue
        worst = min(part["median"] for part in parts)
        detail = "; ".join(
            f"{part['shape']} {part['median']:.2f} ({part['min']:.2f}-{part['max']:.2f})"
            for part in parts
        )
        goal = _goal(figure, LABELS[figure], float(worst), TARGETS[figure], ">=", detail)
        goals.append({**goal, "parts": parts})
    return goals


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal whose rows were measured in ``results``; ``ratio`` is a float."""
    rows = _rows(results)

    def med(key: str) -> float | None:
        row = rows.get(key)
        return None if row is None else float(row["median"])

    def ratio(a: str, b: str) -> float | None:
        x, y = med(a), med(b)
        return None if x is None or y is None or y == 0 else x / y

    goals: list[dict[str, Any]] = []

    def add(key: str, label: str, value: float | None, target: float, op: str, detail: str) -> None:
        if value is not None:
            goals.append(_goal(key, label, value, target, op, detail))

    goals += pair_goals(results)
    sizes = sorted(int(key[7:]) for key in rows if key.startswith("export_") and key[7:].isdigit())
    if sizes:
        small, big = sizes[0], sizes[-1]
        add(
            "export_throughput",
            f"export vs dict-mode pagination, {big:,} records",
            ratio(f"export_{big}", f"walk_{big}"),
            0.80,
            ">=",
            "export() records/s / paginate() records/s, same listing, concurrency and page size"
            + (
                ""
                if ratio(f"export_{small}", f"walk_{small}") is None
                else f"; at {small:,}: {ratio(f'export_{small}', f'walk_{small}'):.2f}"
            ),
        )
        rss_big = rows[f"export_{big}"]["peak_rss_mb"]["max"]
        rss_small = rows[f"export_{small}"]["peak_rss_mb"]["max"]
        add(
            "export_rss",
            f"export peak RSS at {big:,} records, MB (goal: under 150)",
            float(rss_big),
            150.0,
            "<",
            "the largest peak RSS (VmHWM) of the export rounds, in MB (10^6 bytes)",
        )
        add(
            "export_rss_growth",
            f"export peak RSS {big:,} vs {small:,} records",
            rss_big / rss_small,
            1.3,
            "<=",
            f"{rss_big:.1f} MB / {rss_small:.1f} MB (largest of the rounds each)",
        )
    add(
        "import_time",
        "import accutics_async vs import aiohttp",
        ratio("import_accutics_async", "import_aiohttp"),
        1.5,
        "<=",
        "median import time in fresh interpreters",
    )
    return goals
