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
    # The median of the pairs, not the ratio of the two rows' medians (1.0 here).
    assert statistics.median(lib_rates) / statistics.median(raw_rates) == pytest.approx(1.0)
    assert nested["median"] == pytest.approx(0.8)


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
