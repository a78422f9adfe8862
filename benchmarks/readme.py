"""The measured tables in ``benchmarks/README.md``, rewritten by the runs that measure them.

Each entry point owns one section of that file, between ``<!-- NAME:start -->``
and ``<!-- NAME:end -->``: ``python -m benchmarks`` owns ``benchmarks``,
``python -m benchmarks.rate_limits`` owns ``rate-limits`` and
``python -m benchmarks.dask_scaling`` owns ``dask-scaling``. A run replaces
only what is between its own markers, so the prose around the tables (and the
other runs' tables) stays as written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"


class SectionError(ValueError):
    """The file lacks exactly one start and one end marker, in that order, for a section."""


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``name``'s markers replaced by ``body``."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise SectionError(f"expected one {start} and one {end}")
    head, rest = text.split(start)
    if end not in rest:
        raise SectionError(f"{end} comes before {start}")
    _, tail = rest.split(end)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def check_section(path: Path, name: str) -> None:
    """Raise ``SectionError`` (or ``OSError``) now if ``update_section`` would fail later."""
    replace_section(path.read_text(encoding="utf-8"), name, "")


def update_section(path: Path, name: str, body: str) -> None:
    """Rewrite ``name``'s section of ``path`` in place, atomically (a reader never sees half)."""
    text = replace_section(path.read_text(encoding="utf-8"), name, body)
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)  # mkstemp's 0600 would otherwise replace the file's own mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# The row each group's ratio column is taken against.
_BASELINES = {
    "pairs": None,
    "throughput": "raw_orjson",
    "typed": "cattrs_naive",
    "latency": None,
    "export": None,
    "import": "import_aiohttp",
    "probe": None,
}


def ratio_text(row: dict[str, Any], group: dict[str, Any], rows: dict[str, Any]) -> str:
    """The row's median over its group's baseline row, as ``0.87x``; empty without one."""
    name = group["name"]
    base_key = _BASELINES.get(name)
    if name == "latency":
        size = row["key"].rsplit("_", 1)[1]
        base_key = f"lib_c1_{size}"
    elif name == "export":
        size = row["key"].rsplit("_", 1)[1]
        base_key = f"walk_{size}"
    base = rows.get(base_key) if base_key else None
    if base is None or not base["median"]:
        return ""
    return f"{row['median'] / base['median']:.2f}x"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _number(value: float, unit: str) -> str:
    return f"{value:,.1f}" if unit == "ms" else f"{value:,.0f}"


def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    packages = m.get("packages", {})
    versions = ", ".join(
        f"{name} {packages[name]}" for name in ("aiohttp", "orjson", "cattrs") if name in packages
    )
    line = (
        f"This run: {m['nproc']} CPUs (`os.cpu_count()`), {m['cpu']} (as `/proc/cpuinfo` "
        f"names it), {m['implementation']} {m['python']}, {versions}; "
        f"{results['elapsed_s']:.0f} s in all."
    )
    if results.get("quick"):
        line += " A `--quick` smoke run: tiny sizes, its figures measure nothing."
    return line


def verdict(goal: dict[str, Any]) -> str:
    return "held" if goal["holds"] else "falls short"


def pair_cells(pair: dict[str, Any], rows: dict[str, Any]) -> list[str]:
    """Figure, shape, both sides' median rates, then the pair ratio's median, min, max."""
    return [
        pair["figure"],
        pair["shape"],
        _number(rows[pair["lib"]]["median"], "records/s"),
        _number(rows[pair["raw"]]["median"], "records/s"),
        f"{pair['median']:.2f}",
        f"{pair['min']:.2f}",
        f"{pair['max']:.2f}",
    ]


PAIR_HEADER = ["Figure", "Shape", "Library records/s", "Raw records/s", "Ratio", "Min", "Max"]


def pairs_table(group: dict[str, Any]) -> str:
    rows = {row["key"]: row for row in group["rows"]}
    lines = [
        f"**{_cell(group['title'])}**",
        "",
        "| " + " | ".join(PAIR_HEADER) + " |",
        "|---|---|" + "---:|" * (len(PAIR_HEADER) - 2),
    ]
    for pair in group["pairs"]:
        lines.append("| " + " | ".join(_cell(c) for c in pair_cells(pair, rows)) + " |")
    lines += ["", "| Figure | Library side | Raw side |", "|---|---|---|"]
    seen = set()
    for pair in group["pairs"]:
        sides = tuple(rows[pair[side]]["label"].rsplit(" (", 1)[0] for side in ("lib", "raw"))
        if (pair["figure"], sides) not in seen:
            seen.add((pair["figure"], sides))
            lines.append("| " + " | ".join(_cell(c) for c in (pair["figure"], *sides)) + " |")
    return "\n".join(lines)


def group_table(group: dict[str, Any]) -> str:
    if "pairs" in group:
        return pairs_table(group)
    rows = {row["key"]: row for row in group["rows"]}
    with_rss = group["name"] == "export"
    with_cpu = group["name"] == "probe"
    header = ["Variant", "Median", "Min", "Max", "Ratio"]
    if with_rss:
        header.append("Peak RSS MB (median / max)")
    if with_cpu:
        header += ["First pass", "Server CPU µs/page"]
    lines = [
        f"**{_cell(group['title'])}**",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for row in group["rows"]:
        unit = row["unit"]
        cells = [
            _cell(row["label"]),
            _number(row["median"], unit),
            _number(row["min"], unit),
            _number(row["max"], unit),
            ratio_text(row, group, rows),
        ]
        if with_rss:
            rss = row["peak_rss_mb"]
            cells.append(f"{rss['median']:.1f} / {rss['max']:.1f}")
        if with_cpu:
            cpu = row["server_cpu_us_per_page"]
            cells.append(_number(row["first_pass_pages_per_s"], unit))
            cells.append("" if cpu is None else f"{cpu:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _part(goal: dict[str, Any], shape: str) -> str:
    for part in goal["parts"]:
        if part["shape"] == shape:
            return f"{part['median']:.2f} ({part['min']:.2f}-{part['max']:.2f})"
    return ""


def goals_table(goals: list[dict[str, Any]]) -> str:
    """The pair goals (one column per record shape), then the others."""
    paired = [goal for goal in goals if "parts" in goal]
    others = [goal for goal in goals if "parts" not in goal]
    lines = ["**Goals, from the same run**", ""]
    if paired:
        shapes = list(dict.fromkeys(part["shape"] for g in paired for part in g["parts"]))
        lines += [
            "| Goal | " + " | ".join(f"{shape} (min-max)" for shape in shapes) + " | Target | |",
            "|---|" + "---:|" * len(shapes) + "---|---|",
        ]
        for goal in paired:
            cells = [f"`{goal['key']}`: {goal['label']}", *(_part(goal, s) for s in shapes)]
            cells += [f"{goal['op']} {goal['target']:.2f} on each", verdict(goal)]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    if others:
        lines += ["| Goal | Measured | Target | |", "|---|---:|---|---|"]
        for goal in others:
            lines.append(
                f"| `{goal['key']}`: {_cell(goal['label'])} | {goal['ratio']:.2f} "
                f"| {goal['op']} {goal['target']:g} | {verdict(goal)} |"
            )
    return "\n".join(lines).rstrip()


def render(results: dict[str, Any]) -> str:
    """The ``benchmarks`` section: the machine, one table per group, then the goals."""
    parts = [machine_line(results)]
    parts += [group_table(group) for group in results["groups"]]
    parts.append(goals_table(results["goals"]))
    return "\n\n".join(parts)
