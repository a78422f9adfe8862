"""The benchmark runs rewrite their own tables in ``benchmarks/README.md`` and nothing else.

No benchmark runs here: the tables are rendered from results documents of the
runner's shape, and the file handling is checked on copies in ``tmp_path``.
The end-to-end write of a real (``--quick``) run is in ``test_benchmarks_smoke``.
"""

from __future__ import annotations

import argparse
import importlib
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("benchmarks", "rate-limits", "dask-scaling")


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # `pytest` run as a script does not put the checkout on sys.path; `python -m pytest` does.
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.readme")


def row(key: str, label: str, median: float, unit: str = "records/s") -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "unit": unit,
        "median": median,
        "min": median * 0.9,
        "max": median * 1.1,
        "samples": [median],
    }


def pair(figure: str, shape: str, median: float, low: float, high: float) -> dict[str, Any]:
    key = f"{figure}_{shape}"
    return {
        "key": key, "figure": figure, "shape": shape, "label": figure, "lib": f"{key}_lib",
        "raw": f"{key}_raw", "median": median, "min": low, "max": high, "samples": [median],
    }  # fmt: skip


def results() -> dict[str, Any]:
    export = row("export_1000", "export() to JSON Lines, 1,000 records", 80_000)
    export["peak_rss_mb"] = {"median": 41.5, "min": 41.0, "max": 42.3}
    walk = row("walk_1000", "paginate() dicts, counted, 1,000 records", 100_000)
    walk["peak_rss_mb"] = {"median": 40.0, "min": 40.0, "max": 40.5}
    return {
        "quick": False,
        "elapsed_s": 241.4,
        "machine": {
            "nproc": 2,
            "cpu": "AMD EPYC",
            "python": "3.11.7",
            "implementation": "CPython",
            "packages": {"aiohttp": "3.14.5", "orjson": "3.13.0", "cattrs": "26.2.1"},
        },
        "groups": [
            {
                "name": "pairs",
                "title": "The goal figures",
                "rows": [
                    row("dicts_seq_nested_lib", "paginate() dicts, sequential (nested)", 180_000),
                    row("dicts_seq_nested_raw", "raw aiohttp + orjson (nested)", 200_000),
                    row("dicts_seq_flat_lib", "paginate() dicts, sequential (flat)", 210_000),
                    row("dicts_seq_flat_raw", "raw aiohttp + orjson (flat)", 200_000),
                ],
                "pairs": [
                    pair("dicts_seq", "nested", 0.91, 0.85, 0.97),
                    pair("dicts_seq", "flat", 1.04, 0.99, 1.12),
                ],
            },
            {
                "name": "throughput",
                "title": "Dicts, no latency, records/s",
                "rows": [
                    row("raw_orjson", "raw aiohttp + orjson.loads (floor)", 200_000),
                    row("lib_seq", "paginate() dicts | sequential", 174_000),
                ],
            },
            {"name": "export", "title": "Export", "rows": [export, walk]},
            {
                "name": "import",
                "title": "Import time, ms",
                "rows": [
                    row("import_aiohttp", "import aiohttp", 100.0, "ms"),
                    row("import_accutics_async", "import accutics_async", 128.0, "ms"),
                ],
            },
        ],
        "goals": [
            {"key": "dicts_seq", "label": "dicts, sequential", "ratio": 0.91, "target": 1.0,
             "op": ">=", "holds": False, "detail": "",
             "parts": [{"shape": "nested", "median": 0.91, "min": 0.85, "max": 0.97},
                       {"shape": "flat", "median": 1.04, "min": 0.99, "max": 1.12}]},
            {"key": "export_rss", "label": "export peak RSS", "ratio": 42.3, "target": 150.0,
             "op": "<", "holds": True, "detail": ""},
            {"key": "import_time", "label": "import time", "ratio": 1.28, "target": 1.5,
             "op": "<=", "holds": True, "detail": ""},
        ],
    }  # fmt: skip


def test_render_draws_every_group_row_ratio_and_goal(bench: ModuleType) -> None:
    text = bench.render(results())
    assert text.startswith("This run: 2 CPUs (`os.cpu_count()`), AMD EPYC")
    assert "CPython 3.11.7, aiohttp 3.14.5, orjson 3.13.0, cattrs 26.2.1; 241 s in all." in text
    assert "smoke run" not in text
    lines = text.splitlines()
    # A row's label keeps its text; a `|` in it must not split the cell.
    assert "| paginate() dicts \\| sequential | 174,000 | 156,600 | 191,400 | 0.87x |" in lines
    assert "| raw aiohttp + orjson.loads (floor) | 200,000 | 180,000 | 220,000 | 1.00x |" in lines
    # Export rows: ratio to the dict walk of the same size, and the peak RSS column.
    export = "| export() to JSON Lines, 1,000 records | 80,000 | 72,000 | 88,000 | 0.80x |"
    assert f"{export} 41.5 / 42.3 |" in lines
    assert "| import accutics_async | 128.0 | 115.2 | 140.8 | 1.28x |" in lines
    # The pairs group: one line per figure and shape, both sides' rates, the pair ratios.
    assert "| dicts_seq | nested | 180,000 | 200,000 | 0.91 | 0.85 | 0.97 |" in lines
    assert "| dicts_seq | flat | 210,000 | 200,000 | 1.04 | 0.99 | 1.12 |" in lines
    assert "| dicts_seq | paginate() dicts, sequential | raw aiohttp + orjson |" in lines
    # Pair goals: a column per shape; then the other goals.
    assert "| Goal | nested (min-max) | flat (min-max) | Target | |" in lines
    assert (
        "| `dicts_seq`: dicts, sequential | 0.91 (0.85-0.97) | 1.04 (0.99-1.12) "
        "| >= 1.00 on each | falls short |"
    ) in lines
    assert "| `export_rss`: export peak RSS | 42.30 | < 150 | held |" in lines
    assert "| `import_time`: import time | 1.28 | <= 1.5 | held |" in lines
    titles = ("**The goal figures**", "**Dicts, no latency, records/s**", "**Export**")
    for title in (*titles, "**Import time, ms**"):
        assert title in lines


def test_a_quick_run_says_its_figures_measure_nothing(bench: ModuleType) -> None:
    assert "smoke run" in bench.render({**results(), "quick": True}).splitlines()[0]


def test_replace_section_changes_only_its_own_markers(bench: ModuleType) -> None:
    text = (
        "intro\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\nmiddle\n"
        "<!-- rate-limits:start -->\nkept\n<!-- rate-limits:end -->\nend\n"
    )
    new = bench.replace_section(text, "benchmarks", "\nfresh\ntable\n\n")
    assert new == text.replace("\nold\n", "\nfresh\ntable\n")
    assert bench.replace_section(new, "benchmarks", "fresh\ntable") == new  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        "<!-- benchmarks:start -->\nonly the start\n",
        "<!-- benchmarks:end -->\nend first\n<!-- benchmarks:start -->\n",
        "<!-- benchmarks:start -->\n<!-- benchmarks:end -->\n<!-- benchmarks:start -->\n"
        "<!-- benchmarks:end -->\n",
    ],
)
def test_a_file_without_one_ordered_marker_pair_is_refused(bench: ModuleType, text: str) -> None:
    with pytest.raises(bench.SectionError):
        bench.replace_section(text, "benchmarks", "table")


def test_update_section_rewrites_the_file_and_keeps_its_mode(
    bench: ModuleType, tmp_path: Path
) -> None:
    target = tmp_path / "README.md"
    target.write_text("a\n<!-- dask-scaling:start -->\nx\n<!-- dask-scaling:end -->\nb\n")
    target.chmod(0o644)
    bench.update_section(target, "dask-scaling", "| 1 | 2 |")
    expected = "a\n<!-- dask-scaling:start -->\n| 1 | 2 |\n<!-- dask-scaling:end -->\nb\n"
    assert target.read_text() == expected
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left


def test_the_checked_in_readme_has_every_runs_section(bench: ModuleType) -> None:
    assert bench.README == ROOT / "benchmarks" / "README.md"
    for name in SECTIONS:
        bench.check_section(bench.README, name)


def test_only_a_full_run_of_every_group_writes_the_readme_unasked(
    bench: ModuleType, tmp_path: Path
) -> None:
    main = importlib.import_module("benchmarks.__main__")
    groups = list(main.GROUPS)

    def args(**kw: Any) -> argparse.Namespace:
        defaults = {"readme": None, "no_readme": False, "quick": False}
        defaults.update(figures=None, shapes=None, rounds=None)
        return argparse.Namespace(**{**defaults, **kw})

    assert main.readme_target(args(), groups) == bench.README
    assert main.readme_target(args(quick=True), groups[1:]) is None
    assert main.readme_target(args(), ["throughput", "typed"]) is None
    assert main.readme_target(args(no_readme=True), groups) is None
    # Fewer figures, shapes or rounds than a full run: its tables would not be the run's.
    assert main.readme_target(args(figures="typed"), groups) is None
    assert main.readme_target(args(shapes="flat"), groups) is None
    assert main.readme_target(args(rounds=3), groups) is None
    there = tmp_path / "R.md"
    assert main.readme_target(args(readme=there, quick=True), ["import"]) == there


def test_a_readme_without_markers_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--groups", "import",
         "--readme", str(plain), "--out", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot write the tables to" in done.stderr
    assert "<!-- benchmarks:start -->" in done.stderr
    assert not (tmp_path / "r.json").exists()  # nothing ran
    assert plain.read_text() == "no markers\n"


def test_rate_limit_table_has_every_variant_and_goal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    rate_limits = importlib.import_module("benchmarks.rate_limits")
    runs = {
        "adaptive (the default)": [rate_limits.Run(1.0, 0.038), rate_limits.Run(0.9, 0.05)],
        "rate_limit=34 (85%)": [rate_limits.Run(0.95, 0.0)],
    }
    text = rate_limits._markdown("300 pages", runs, [("defaults: <= 10% 429s", True)])
    lines = text.splitlines()
    assert lines[0] == "300 pages"
    assert "| adaptive (the default) | 0.95 (0.90-1.00) | 4.4% (3.8%-5.0%) |" in lines
    assert "| rate_limit=34 (85%) | 0.95 (0.95-0.95) | 0.0% (0.0%-0.0%) |" in lines
    assert "| defaults: <= 10% 429s | met |" in lines
