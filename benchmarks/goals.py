"""The goals of issue 6, each a ratio of medians measured in the same run."""

from __future__ import annotations

import operator
from typing import Any

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

    seq_vs_raw = ratio("lib_c8", "raw_orjson")
    add(
        "dicts_seq",
        "dicts, sequential vs raw aiohttp+orjson",
        ratio("lib_seq", "raw_orjson"),
        0.90,
        ">=",
        "paginate() / raw loop following next, 100/page",
    )
    add(
        "dicts_c8",
        "dicts, concurrency 8 vs raw aiohttp+orjson at 8 in flight",
        ratio("lib_c8", "raw_orjson_c8"),
        0.90,
        ">=",
        "paginate(concurrency=8) / raw loop with 8 pages in flight"
        + ("" if seq_vs_raw is None else f"; vs the sequential raw loop: {seq_vs_raw:.2f}"),
    )
    add(
        "typed_record",
        "typed (Record) vs naive cattrs loop (UserRecord)",
        ratio("lib_record", "cattrs_naive"),
        1.0,
        ">=",
        "paginate(model=Record) / raw aiohttp+orjson+make_converter().structure(UserRecord)",
    )
    add(
        "typed_same_class",
        "typed (UserRecord) vs naive cattrs loop (UserRecord)",
        ratio("lib_user", "cattrs_naive"),
        1.0,
        ">=",
        "the same attrs class through the library's converter and through a naive one",
    )
    add(
        "latency_c16",
        "20 ms latency, 100/page: concurrency 16 vs sequential pages/s",
        ratio("lib_c16_100", "lib_c1_100"),
        12.0,
        ">=",
        "paginate(concurrency=16) / paginate() pages/s",
    )
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
