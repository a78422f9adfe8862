"""Print the results: one rich table per group, then every goal as holds / falls short."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from .readme import PAIR_HEADER, pair_cells, ratio_text, verdict


def _number(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def pairs_table(group: dict[str, Any]) -> Table:
    rows = {row["key"]: row for row in group["rows"]}
    table = Table(title=group["title"], title_justify="left")
    for index, name in enumerate(PAIR_HEADER):
        table.add_column(name, justify="left" if index < 2 else "right")
    for pair in group["pairs"]:
        table.add_row(*pair_cells(pair, rows))
    return table


def group_table(group: dict[str, Any]) -> Table:
    if "pairs" in group:
        return pairs_table(group)
    rows = {row["key"]: row for row in group["rows"]}
    table = Table(title=group["title"], title_justify="left")
    table.add_column("variant")
    table.add_column("median", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    table.add_column("ratio", justify="right")
    with_rss = group["name"] == "export"
    if with_rss:
        table.add_column("peak RSS MB (med / max)", justify="right")
    with_cpu = group["name"] == "probe"
    if with_cpu:
        table.add_column("first pass", justify="right")
        table.add_column("server CPU µs/page", justify="right")
    for row in group["rows"]:
        unit = row["unit"]
        cells = [
            row["label"],
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
        table.add_row(*cells)
    return table


def goal_lines(goals: list[dict[str, Any]]) -> list[str]:
    """One line per goal: verdict, key, target, measured, then the label.

    A pair goal's "measured" is every shape's median (min-max); it holds when
    every shape's median meets the target.
    """
    lines = []
    for goal in goals:
        target = f"{goal['op']} {goal['target']:g}"
        if "parts" in goal:
            measured = "  ".join(
                f"{part['shape']} {part['median']:.2f} ({part['min']:.2f}-{part['max']:.2f})"
                for part in goal["parts"]
            )
            label = goal["label"]
        else:
            measured = f"{goal['ratio']:.2f}"
            label = f"{goal['label']} [{goal['detail']}]"
        lines.append(f"{verdict(goal):>11}  {goal['key']:<17} {target:<7} {measured}  {label}")
    return lines


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    # Wide enough for the tables when the output is a file or a pipe (CI, nox).
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    m = results["machine"]
    console.print(
        f"[bold]accutics_async benchmarks[/bold]  {m['nproc']} CPUs, {m['cpu']}, "
        f"{m['implementation']} {m['python']}"
    )
    for group in results["groups"]:
        console.print(group_table(group))
    console.print("[bold]Goals[/bold]")
    for line in goal_lines(results["goals"]):
        style = "green" if line.lstrip().startswith("held") else "red"
        console.print(line, style=style, highlight=False, markup=False)
    console.print(f"total time {results['elapsed_s']:.0f} s")
