"""The goal figures' method: adjacent (library, raw) pairs, and how their goals are judged.

No benchmark runs and nothing is timed: the walks are stand-ins that count
their calls, and the clock is a fake one each walk advances by a set amount,
so every ratio is known exactly.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pairs(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.pairs")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_walk(clock: Clock, log: list[str], name: str, seconds: list[float], items: int) -> Any:
    """A walk of ``items`` items that takes ``seconds[i]`` of fake time on its i-th call."""
    calls = iter(seconds)

    async def walk(target: Any) -> tuple[int, int]:
        log.append(name)
        clock.now += next(calls)
        return items, items // 100

    return walk


def make_pair(pairs: ModuleType, figure: str, shape: str, lib: Any, raw: Any) -> Any:
    target = object()
    return pairs.Pair(figure, shape, "lib side", "raw side", lib, raw, target)


def test_each_ratio_comes_from_one_adjacent_library_then_raw_pair(pairs: ModuleType) -> None:
    clock, log = Clock(), []
    # Warm-up first (any duration, untimed), then three rounds.
    lib = fake_walk(clock, log, "lib", [9.0, 1.0, 2.0, 1.0], 1000)
    raw = fake_walk(clock, log, "raw", [9.0, 1.0, 1.0, 0.8], 1000)
    other_lib = fake_walk(clock, log, "other_lib", [9.0, 1.0, 1.0, 1.0], 500)
    other_raw = fake_walk(clock, log, "other_raw", [9.0, 2.0, 2.0, 2.0], 500)
    measured = asyncio.run(
        pairs.measure(
            [
                make_pair(pairs, "dicts_seq", "nested", lib, raw),
                make_pair(pairs, "dicts_seq", "flat", other_lib, other_raw),
            ],
            3,
            clock=clock,
        )
    )
    warm = ["lib", "raw", "other_lib", "other_raw"]
    assert log == warm * 4  # warm-up, then round after round, library before raw
    by_key = {pair["key"]: pair for pair in measured["pairs"]}
    nested = by_key["dicts_seq_nested"]
    # Library rate / raw rate of the same round: raw seconds / library seconds.
    assert nested["samples"] == pytest.approx([1.0, 0.5, 0.8])
    assert (nested["median"], nested["min"], nested["max"]) == pytest.approx((0.8, 0.5, 1.0))
    assert by_key["dicts_seq_flat"]["samples"] == pytest.approx([2.0, 2.0, 2.0])
    assert (nested["lib"], nested["raw"]) == ("dicts_seq_nested_lib", "dicts_seq_nested_raw")
    rows = {row["key"]: row for row in measured["rows"]}
    lib_rates = rows["dicts_seq_nested_lib"]["samples"]
    raw_rates = rows["dicts_seq_nested_raw"]["samples"]
    assert lib_rates == pytest.approx([1000.0, 500.0, 1000.0])
    assert raw_rates == pytest.approx([1000.0, 1000.0, 1250.0])
    assert rows["dicts_seq_nested_lib"]["label"] == "lib side (nested)"
    # Each side's walk times, untimed warm-up excluded.
    assert rows["dicts_seq_nested_raw"]["seconds"]["samples"] == pytest.approx([1.0, 1.0, 0.8])
    assert rows["dicts_seq_flat_raw"]["seconds"]["median"] == pytest.approx(2.0)
    # The median of the pairs, not the ratio of the two rows' medians (1.0 here).
    assert statistics.median(lib_rates) / statistics.median(raw_rates) == pytest.approx(1.0)
    assert nested["median"] == pytest.approx(0.8)


def test_a_run_is_as_many_whole_walks_as_make_it_last_long_enough(pairs: ModuleType) -> None:
    clock, log = Clock(), []
    # The raw warm-up takes 0.2 s: three walks make a run of at least 0.5 s.
    lib = fake_walk(clock, log, "lib", [5.0] + [0.25] * 6, 200)
    raw = fake_walk(clock, log, "raw", [0.2] + [0.2] * 3 + [0.1] * 3, 200)
    pair = make_pair(pairs, "dicts_c8", "flat", lib, raw)
    measured = asyncio.run(pairs.measure([pair], 2, clock=clock, min_seconds=0.5))
    assert log == ["lib", "raw"] + (["lib"] * 3 + ["raw"] * 3) * 2
    (result,) = measured["pairs"]
    assert result["walks"] == 3
    # Each run's rate counts all its walks' items over all its time.
    assert result["samples"] == pytest.approx([0.6 / 0.75, 0.3 / 0.75])
    rows = {row["key"]: row for row in measured["rows"]}
    assert rows["dicts_c8_flat_lib"]["samples"] == pytest.approx([600 / 0.75, 600 / 0.75])
    assert rows["dicts_c8_flat_raw"]["seconds"]["samples"] == pytest.approx([0.6, 0.3])


@pytest.mark.parametrize(
    ("warm", "minimum", "walks"),
    [(0.2, 0.5, 3), (0.5, 0.5, 1), (2.0, 0.5, 1), (0.25, 0.5, 2), (0.001, 0.5, 50),
     (0.0, 0.5, 50), (0.1, 0.0, 1)],
)  # fmt: skip
def test_walks_per_run(pairs: ModuleType, warm: float, minimum: float, walks: int) -> None:
    assert pairs.walks_per_run(warm, minimum) == walks
    assert pairs.MAX_WALKS == 50


def test_a_pair_whose_sides_walk_different_items_is_refused(pairs: ModuleType) -> None:
    clock, log = Clock(), []
    lib = fake_walk(clock, log, "lib", [1.0, 1.0], 900)
    raw = fake_walk(clock, log, "raw", [1.0, 1.0], 1000)
    with pytest.raises(RuntimeError, match="library 900 items, raw 1000"):
        asyncio.run(pairs.measure([make_pair(pairs, "typed", "flat", lib, raw)], 1, clock=clock))


def test_build_makes_every_figure_on_every_shape_against_the_right_server(
    pairs: ModuleType,
) -> None:
    sizes = {"dicts_seq": 100, "typed": 50, "dicts_c8": 100, "latency_c16": 40}
    built = pairs.build(pairs.FIGURES, ("nested", "flat"), sizes, "http://a/v1", "http://b/v1", "t")
    assert [p.key for p in built] == [f"{f}_{s}" for f in pairs.FIGURES for s in ("nested", "flat")]
    urls = {p.key: p.target.first_url for p in built}
    assert urls["dicts_seq_flat"] == "http://a/v1/flat/100/records?page_size=100"
    assert urls["typed_nested"] == "http://a/v1/nested/50/records?page_size=100"
    assert urls["latency_c16_nested"] == "http://b/v1/nested/40/records?page_size=100"
    labels = {p.key: (p.lib_label, p.raw_label) for p in built}
    assert labels["typed_flat"] == (
        "paginate(model=FlatRecord)",
        "raw aiohttp + orjson + naive cattrs (FlatRecord)",
    )
    assert labels["typed_nested"][0] == "paginate(model=UserRecord)"


def pair_result(figure: str, shape: str, median: float) -> dict[str, Any]:
    return {
        "key": f"{figure}_{shape}",
        "figure": figure,
        "shape": shape,
        "label": figure,
        "lib": f"{figure}_{shape}_lib",
        "raw": f"{figure}_{shape}_raw",
        "median": median,
        "min": median - 0.1,
        "max": median + 0.1,
        "samples": [median],
    }


def test_a_pair_goal_holds_only_when_it_holds_on_every_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    goals = importlib.import_module("benchmarks.goals")
    group = {
        "name": "pairs",
        "rows": [],
        "pairs": [
            pair_result("dicts_seq", "nested", 1.05),
            pair_result("dicts_seq", "flat", 0.98),
            pair_result("typed", "nested", 1.40),
            pair_result("typed", "flat", 1.31),
        ],
    }
    found = {goal["key"]: goal for goal in goals.evaluate({"groups": [group]})}
    assert set(found) == {"dicts_seq", "typed"}  # only the figures measured
    seq, typed = found["dicts_seq"], found["typed"]
    assert (seq["holds"], seq["ratio"], seq["target"]) == (False, 0.98, 1.0)
    assert (typed["holds"], typed["ratio"], typed["target"]) == (True, 1.31, 1.3)
    assert [part["shape"] for part in seq["parts"]] == ["nested", "flat"]
    assert seq["detail"] == "nested 1.05 (0.95-1.15); flat 0.98 (0.88-1.08)"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--figures", "dicts_seq,nope"], "unknown figure(s): nope"),
        (["--shapes", "round"], "unknown shape(s): round"),
        (["--groups", "pairs,warp"], "unknown group(s): warp"),
        (["--rounds", "0"], "--rounds must be at least 1"),
    ],
)
def test_a_bad_selection_is_refused_before_anything_runs(
    tmp_path: Path, option: list[str], message: str
) -> None:
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), *option],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not out.exists()


def export_row(key: str, median: float, rss: float, **extra: Any) -> dict[str, Any]:
    return {"key": key, "median": median, "peak_rss_mb": {"max": rss}, **extra}


def test_the_export_goal_is_the_median_of_adjacent_export_walk_ratios(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    goals = importlib.import_module("benchmarks.goals")
    rows = [
        export_row("export_100", 70.0, 40.0, vs_walk={"median": 0.85}),
        export_row("walk_100", 100.0, 39.0),
        export_row("export_1000", 78.0, 44.0, vs_walk={"median": 0.82}),
        export_row("walk_1000", 100.0, 43.0),
    ]
    found = {g["key"]: g for g in goals.evaluate({"groups": [{"name": "export", "rows": rows}]})}
    # The pairs' median (0.82), not the ratio of the medians (0.78).
    assert found["export_throughput"]["ratio"] == 0.82
    assert found["export_throughput"]["holds"] is True
    assert found["export_throughput"]["detail"].endswith("; at 100: 0.85")
    assert found["export_rss"]["ratio"] == 44.0
    assert found["export_rss_growth"]["ratio"] == pytest.approx(1.1)
    # A results file without the pairs falls back to the ratio of the medians.
    for row in rows:
        row.pop("vs_walk", None)
    found = {g["key"]: g for g in goals.evaluate({"groups": [{"name": "export", "rows": rows}]})}
    assert found["export_throughput"]["ratio"] == pytest.approx(0.78)
    assert found["export_throughput"]["holds"] is False
