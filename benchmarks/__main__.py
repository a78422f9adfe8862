"""``python -m benchmarks [--quick] [--groups a,b] [--out FILE] [--readme FILE | --no-readme]``.

Runs, prints, saves the JSON results, and rewrites the measured tables in
``benchmarks/README.md``: a full run of every group does that by default; a
``--quick`` or partial run (``--groups``, ``--figures``, ``--shapes``,
``--rounds``) leaves the file alone unless ``--readme`` names where to write.

For speed work, ``python -m benchmarks --groups pairs`` measures just the four
goal figures (about two minutes), ``--figures dicts_seq --shapes flat`` fewer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import attrs
import orjson

from . import readme
from .pairs import FIGURES
from .report import print_results
from .runner import FULL, GROUPS, QUICK, run
from .shapes import SHAPES


def readme_target(args: argparse.Namespace, groups: list[str]) -> Path | None:
    """Where this run's tables go: ``--readme``, else the README after a full run only.

    A ``--quick`` run's figures measure nothing and a partial run's tables
    would drop the other groups', so neither replaces the recorded ones unasked.
    """
    if args.readme is not None:
        return Path(args.readme)
    if args.no_readme or args.quick or set(groups) != set(GROUPS):
        return None
    if args.figures or args.shapes or args.rounds is not None:
        return None
    return readme.README


def _names(
    parser: argparse.ArgumentParser, text: str, known: tuple[str, ...], what: str
) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown {what}(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="accutics_async side by side with hand-written aiohttp/httpx loops.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few rounds (smoke run)")
    parser.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma-separated subset of {','.join(GROUPS)} (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results.json",
        help="where to write the JSON results (default: benchmarks/results.json)",
    )
    parser.add_argument(
        "--figures",
        help=f"the pairs group's goal figures, a subset of {','.join(FIGURES)} (default: all)",
    )
    parser.add_argument(
        "--shapes", help=f"the pairs group's record shapes, of {','.join(SHAPES)} (default: both)"
    )
    parser.add_argument(
        "--rounds", type=int, help="the pairs group's rounds (default: 9; --quick: 3)"
    )
    parser.add_argument("--no-fsync", action="store_true", help="export without an fsync per page")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--readme",
        type=Path,
        help="rewrite the tables between the benchmarks markers of this file "
        "(default: benchmarks/README.md, after a full run of every group only)",
    )
    where.add_argument("--no-readme", action="store_true", help="leave every README alone")
    args = parser.parse_args(argv)
    groups = _names(parser, args.groups, GROUPS, "group")
    cfg = QUICK if args.quick else FULL
    if args.figures:
        cfg = attrs.evolve(cfg, pair_figures=tuple(_names(parser, args.figures, FIGURES, "figure")))
    if args.shapes:
        cfg = attrs.evolve(cfg, pair_shapes=tuple(_names(parser, args.shapes, SHAPES, "shape")))
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        cfg = attrs.evolve(cfg, pair_rounds=args.rounds)
    if args.quick:
        groups = [g for g in groups if g != "probe"]
    target = readme_target(args, groups)
    if target is not None:
        try:  # before the run, not after minutes of it
            readme.check_section(target, "benchmarks")
        except (OSError, readme.SectionError) as exc:
            parser.error(f"cannot write the tables to {target}: {exc}")

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = {"quick": args.quick, **run(cfg, groups, progress)}
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print_results(results)
    print(f"results written to {args.out}")
    if target is not None:
        readme.update_section(target, "benchmarks", readme.render(results))
        print(f"tables written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
