"""``python -m benchmarks.rate_limits``: walking pages against a gateway's rate limit.

The fake server's ``limit=40/s`` mode is a token bucket that answers requests
over the limit with 429 and a ``Retry-After`` of the time to its next token.
The same walk (``--pages`` pages, ``concurrency=8``) runs with no adaptation,
with the default adaptive limiter, and with ``rate_limit=`` at 85% of the
server's limit, then once more against whole-second ``Retry-After`` values.
Each row is the median of ``--runs`` runs (with min and max): pages per second
as a share of the limit (of ``rate_limit`` for that row) and the share of
requests answered 429. Every variant retries 429s as often as it needs to,
so each walk finishes and only its pace differs. The table also replaces the
``rate-limits`` section of ``benchmarks/README.md`` (``--readme FILE`` for
another file, ``--no-readme`` for none).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import attrs

from accutics_async import AccuticsClient, RetryPolicy
from accutics_async.testing import FakeAccuticsServer

from . import readme

PAGE_SIZE = 10
RETRY = RetryPolicy(max_attempts=1_000, max_backoff=30.0)


@attrs.frozen
class Variant:
    name: str
    limit: str  # the fake server's limit= fault
    client: dict[str, Any]
    target: float  # requests per second the pace is compared with


@attrs.frozen
class Run:
    share_of_target: float
    share_429: float


async def _walk(variant: Variant, pages: int) -> Run:
    async with FakeAccuticsServer(
        records=pages * PAGE_SIZE, faults=f"limit={variant.limit}"
    ) as server:
        async with AccuticsClient(
            server.token, base_url=server.base_url, retry=RETRY, **variant.client
        ) as client:
            started = time.perf_counter()
            walked = 0
            async for _page in client.paginate(
                server.page_endpoint, page_size=PAGE_SIZE, concurrency=8
            ).pages():
                walked += 1
            elapsed = time.perf_counter() - started
        assert walked == pages, walked
        requests = server.stats.total_requests
        return Run(pages / elapsed / variant.target, server.stats.faults["limit"] / requests)


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _markdown(heading: str, results: dict[str, list[Run]], goals: list[tuple[str, bool]]) -> str:
    lines = [heading, "", "| Variant | Pace / target | 429 share |", "|---|---:|---:|"]
    for name, runs in results.items():
        pace = _spread([r.share_of_target for r in runs], ".2f")
        limited = _spread([r.share_429 for r in runs], ".1%")
        lines.append(f"| {name} | {pace} | {limited} |")
    lines += ["", "| Goal | |", "|---|---|"]
    lines += [f"| {what} | {'met' if met else 'missed'} |" for what, met in goals]
    return "\n".join(lines)


def _row(name: str, runs: list[Run]) -> str:
    pace = [r.share_of_target for r in runs]
    limited = [r.share_429 for r in runs]
    return (
        f"{name:<34} {statistics.median(pace):5.2f} ({min(pace):.2f}-{max(pace):.2f})"
        f"   {statistics.median(limited):6.1%} ({min(limited):.1%}-{max(limited):.1%})"
    )


async def main_async(args: argparse.Namespace) -> int:
    rate = args.limit
    variants = [
        Variant("no adaptation (adaptive=False)", f"{rate}/s", {"adaptive": False}, rate),
        Variant("adaptive (the default)", f"{rate}/s", {}, rate),
        Variant(
            f"rate_limit={0.85 * rate:g} (85%)",
            f"{rate}/s",
            {"rate_limit": 0.85 * rate},
            0.85 * rate,
        ),
        Variant("adaptive, whole-second Retry-After", f"{rate}/s:int", {}, rate),
    ]
    results: dict[str, list[Run]] = {v.name: [] for v in variants}
    for _ in range(args.runs):  # A B C D A B C D ...: drifts of the machine hit all alike
        for variant in variants:
            results[variant.name].append(await _walk(variant, args.pages))
    heading = (
        f"{args.pages} pages of {PAGE_SIZE}, concurrency=8, server limit={rate:g}/s, "
        f"median of {args.runs} runs (min-max)"
    )
    print(heading)
    print(f"{'variant':<34} {'pace / target':<18} 429 share")
    for variant in variants:
        print(_row(variant.name, results[variant.name]))
    adaptive = results["adaptive (the default)"]
    fixed = results[variants[2].name]
    goals = [
        (
            "defaults: >= 0.75 of the limit",
            statistics.median(r.share_of_target for r in adaptive) >= 0.75,
        ),
        ("defaults: <= 10% 429s", statistics.median(r.share_429 for r in adaptive) <= 0.10),
        ("rate_limit at 85%: <= 1% 429s", statistics.median(r.share_429 for r in fixed) <= 0.01),
        (
            "rate_limit at 85%: >= 0.8 of its rate",
            statistics.median(r.share_of_target for r in fixed) >= 0.8,
        ),
    ]
    print("goals:")
    for what, met in goals:
        print(f"  {'met ' if met else 'MISSED'} {what}")
    if args.readme is not None:
        readme.update_section(args.readme, "rate-limits", _markdown(heading, results, goals))
        print(f"table written to {args.readme}")
    return 0 if all(met for _, met in goals) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate_limits")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--limit", type=float, default=40.0, help="the server's requests/s")
    parser.add_argument("--runs", type=int, default=3)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--readme",
        type=Path,
        default=readme.README,
        help="rewrite the rate-limits section of this file (default: benchmarks/README.md)",
    )
    where.add_argument("--no-readme", dest="readme", action="store_const", const=None)
    args = parser.parse_args(argv)
    if args.readme is not None:
        try:  # before the run, not after it
            readme.check_section(args.readme, "rate-limits")
        except (OSError, readme.SectionError) as exc:
            parser.error(f"cannot write the table to {args.readme}: {exc}")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
