"""The benchmark machinery runs end to end (``python -m benchmarks --quick``).

No timing is asserted (shared machines are noisy): only that every group
ran, that the result file has the documented shape, and that every goal has
a numeric ratio and a verdict.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {
    "dicts_seq",
    "dicts_c8",
    "typed_record",
    "typed_same_class",
    "latency_c16",
    "export_throughput",
    "export_rss",
    "export_rss_growth",
    "import_time",
}


def test_quick_run_writes_every_group_and_goal(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
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
