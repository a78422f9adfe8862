"""One export (or one dict-mode walk) in a fresh process, so its peak RSS is its own.

``python -m benchmarks.child {export,walk} --base-url U --token T --path P
--page-size N --concurrency C [--out FILE] [--no-fsync]`` prints one JSON line:
``{"items", "seconds", "maxrss_mb", "ru_maxrss_mb", "bytes"}``.

``maxrss_mb`` is this process's peak resident set (interpreter and imports
included, so every mode carries the same base): ``VmHWM`` from
``/proc/self/status`` on Linux. ``getrusage(RUSAGE_SELF).ru_maxrss`` is
kept as ``ru_maxrss_mb`` but not used there: Linux carries the high-water
mark of the process image that ran ``exec`` (the forked copy of the parent,
here the benchmark runner) into it, so it never reads below the parent's
size. Elsewhere ``ru_maxrss`` is all there is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time

import orjson

from accutics_async import AccuticsClient


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with AccuticsClient(
        token=args.token, base_url=args.base_url, max_concurrency=max(8, args.concurrency)
    ) as client:
        started = time.perf_counter()
        size = 0
        if args.mode == "export":
            from accutics_async.export import export

            result = await export(
                client,
                args.path,
                args.out,
                page_size=args.page_size,
                concurrency=args.concurrency,
                fsync=not args.no_fsync,
            )
            items, size = result.records, result.bytes
        else:
            items = 0
            pager = client.paginate(
                args.path, page_size=args.page_size, concurrency=args.concurrency
            )
            async for _item in pager:
                items += 1
        seconds = time.perf_counter() - started
    if args.mode == "export":
        os.remove(args.out)
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6
    peak = _vm_hwm_mb()
    return {
        "items": items,
        "seconds": seconds,
        "maxrss_mb": ru_maxrss if peak is None else peak,
        "ru_maxrss_mb": ru_maxrss,
        "bytes": size,
    }


def _vm_hwm_mb() -> float | None:
    """Peak RSS of this process image in MB, from /proc (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("export", "walk"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--path", default="/records")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--out")
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
