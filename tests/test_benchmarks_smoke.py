"""The benchmark machinery runs end to end (``python -m benchmarks --quick``).

No timing is asserted (shared machines are noisy): only that every group
ran, that the result file has the documented shape (the four goal figures on
both record shapes, a ratio per round), that every goal has a numeric ratio
and a verdict, and that the run rewrote the tables of the README it was
pointed at (a copy of ``benchmarks/README.md``) and nothing else.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIR_GOALS = {"dicts_seq", "typed", "dicts_c8", "latency_c16"}
GOALS = PAIR_GOALS | {
    "export_throughput",
    "export_rss",
    "export_rss_growth",
    "import_time",
}


def _outside(text: str, name: str) -> tuple[str, str]:
    head, rest = text.split(f"<!-- {name}:start -->")
    return head, rest.split(f"<!-- {name}:end -->")[1]


def _inside(text: str, name: str) -> str:
    return text.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]


def test_quick_run_writes_every_group_and_goal(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    recorded = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    copy = tmp_path / "README.md"
    copy.write_text(recorded, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--readme", str(copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Goals" in done.stdout
    results = json.loads(out.read_text())
    assert results["quick"] is True
    assert results["machine"]["nproc"] >= 1
    assert {g["name"] for g in results["groups"]} == {
        "pairs",
        "throughput",
        "typed",
        "latency",
        "export",
        "import",
    }
    for group in results["groups"]:
        assert group["rows"], group["name"]
        for row in group["rows"]:
            assert row["min"] <= row["median"] <= row["max"]
            assert row["median"] > 0
            assert len(row["samples"]) >= 1
    # Every goal figure on both record shapes, from as many pairs as rounds.
    measured = next(g for g in results["groups"] if g["name"] == "pairs")
    rounds = results["config"]["pair_rounds"]
    assert rounds >= 2
    figures = {(pair["figure"], pair["shape"]) for pair in measured["pairs"]}
    assert figures == {(f, s) for f in PAIR_GOALS for s in ("nested", "flat")}
    for pair in measured["pairs"]:
        assert len(pair["samples"]) == rounds
        assert pair["min"] <= pair["median"] <= pair["max"]
        assert pair["min"] > 0
    export_rows = next(g for g in results["groups"] if g["name"] == "export")["rows"]
    assert all(row["peak_rss_mb"]["max"] > 0 for row in export_rows)
    goals = {goal["key"]: goal for goal in results["goals"]}
    assert set(goals) == GOALS
    for goal in goals.values():
        assert isinstance(goal["ratio"], float)
        assert math.isfinite(goal["ratio"])
        assert goal["ratio"] > 0
        assert isinstance(goal["holds"], bool)
        assert goal["op"] in (">=", "<=", "<")
    for key in PAIR_GOALS:
        assert [part["shape"] for part in goals[key]["parts"]] == ["nested", "flat"]
        assert goals[key]["ratio"] == min(part["median"] for part in goals[key]["parts"])
    # The tables of this run replaced the recorded ones in the copy, and only those.
    written = copy.read_text(encoding="utf-8")
    assert _outside(written, "benchmarks") == _outside(recorded, "benchmarks")
    tables = _inside(written, "benchmarks")
    assert "smoke run" in tables
    for group in results["groups"]:
        assert f"**{group['title']}**" in tables
        if group["name"] == "pairs":
            for pair in group["pairs"]:
                assert f"| {pair['figure']} | {pair['shape']} |" in tables
            continue
        for row in group["rows"]:
            assert f"| {row['label']} |" in tables
    assert tables.count("| held |") + tables.count("| falls short |") == len(GOALS)
    # A --quick run never touches the recorded figures.
    assert (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8") == recorded
