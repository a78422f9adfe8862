"""``python -m benchmarks.dask_scaling``: a sharded export on 1, 2 and 4 Dask workers.

The fake server answers every page after ``--latency`` (20 ms by default), the
shape in which more clients pay off: a walk waits on the network, not the CPU.
Each run exports the same plan (``--shards`` shards, ``--concurrency`` pages
in flight per shard) on a fresh ``LocalCluster`` of single-threaded worker
processes; the time excludes starting the cluster, and an untimed warm-up
run goes first. The output files of all runs are compared byte for byte.
Needs the ``dask`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import filecmp
import os
import tempfile
import threading
import time
from pathlib import Path

from accutics_async.export import export_on_dask
from accutics_async.testing import FakeAccuticsServer

from . import readme


class _ServerThread:
    """The fake server on its own event loop, so the Dask client's waits never stall it."""

    def __init__(self, records: int, latency_ms: int) -> None:
        self._loop = asyncio.new_event_loop()
        self.server = FakeAccuticsServer(records=records, faults=f"latency={latency_ms}ms")
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeAccuticsServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result()
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _run(workers: int, server: FakeAccuticsServer, out: Path, args: argparse.Namespace) -> float:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        started = time.perf_counter()
        result = asyncio.run(
            export_on_dask(
                dask_client,
                server.page_endpoint,
                out,
                shards=args.shards,
                page_size=100,
                concurrency=args.concurrency,
                base_url=server.base_url,
                fsync=False,
            )
        )
        elapsed = time.perf_counter() - started
    assert result.records == args.records, result
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dask_scaling")
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--latency", type=int, default=20, help="per request, in ms")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2, help="pages in flight per shard")
    parser.add_argument("--workers", default="1,2,4")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--readme",
        type=Path,
        default=readme.README,
        help="rewrite the dask-scaling section of this file (default: benchmarks/README.md)",
    )
    where.add_argument("--no-readme", dest="readme", action="store_const", const=None)
    args = parser.parse_args(argv)
    if args.readme is not None:
        try:  # before the run, not after it
            readme.check_section(args.readme, "dask-scaling")
        except (OSError, readme.SectionError) as exc:
            parser.error(f"cannot write the table to {args.readme}: {exc}")
    counts = [int(n) for n in args.workers.split(",")]
    with (
        _ServerThread(args.records, args.latency) as server,
        tempfile.TemporaryDirectory() as folder,
    ):
        # The workers are child processes: they take the token from here.
        os.environ["ACCUTICS_TOKEN"] = server.token
        # Untimed: the first walk also pays for the fake server building its
        # pages and for imports in the workers, which would favour later runs.
        _run(max(counts), server, Path(folder) / "warm-up.jsonl", args)
        times: dict[int, float] = {}
        outs: list[Path] = []
        for workers in counts:
            out = Path(folder) / f"records-{workers}.jsonl"
            times[workers] = _run(workers, server, out, args)
            outs.append(out)
        same = all(filecmp.cmp(outs[0], other, shallow=False) for other in outs[1:])
    base = times[counts[0]]
    heading = (
        f"{args.records} records, {args.latency} ms latency, {args.shards} shards, "
        f"{args.concurrency} pages in flight per shard, os.cpu_count()={os.cpu_count()}"
    )
    print(heading)
    table = [heading, "", "| Workers | Seconds | Records/s | Speed-up |", "|---:|---:|---:|---:|"]
    for workers in counts:
        print(
            f"  {workers} worker(s): {times[workers]:6.2f} s  "
            f"{args.records / times[workers]:8.0f} records/s  speed-up {base / times[workers]:.2f}x"
        )
        table.append(
            f"| {workers} | {times[workers]:.2f} | {args.records / times[workers]:,.0f} "
            f"| {base / times[workers]:.2f}x |"
        )
    print(f"  outputs identical: {same}")
    table += ["", f"Output files byte-identical: {'yes' if same else 'NO'}."]
    if args.readme is not None:
        readme.update_section(args.readme, "dask-scaling", "\n".join(table))
        print(f"table written to {args.readme}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
