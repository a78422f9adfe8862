"""``python -m benchmarks [--quick] [--groups a,b] [--out FILE]``: run, print, save JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from .report import print_results
from .runner import FULL, GROUPS, QUICK, run


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
    parser.add_argument("--no-fsync", action="store_true", help="export without an fsync per page")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s): {', '.join(unknown)}")
    cfg = QUICK if args.quick else FULL
    if args.quick:
        groups = [g for g in groups if g != "probe"]

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = {"quick": args.quick, **run(cfg, groups, progress)}
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print_results(results)
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
