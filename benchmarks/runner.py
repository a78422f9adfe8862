"""The benchmark run: servers up, groups of variants in rounds, results and goals.

The ``pairs`` group (the four goal figures, see ``pairs``) takes each ratio
as the median of adjacent (library, raw) pairs. The other groups run their
variants in the same order in each round (A B C A B C ...), after one
untimed warm-up pass of each, so slow drifts of a shared machine hit all of
them alike; a row reports the median of the rounds with the min and max, and
their ratios are taken between medians of the same run.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import attrs
import orjson

from . import pairs as p
from . import variants as v
from .models import UserRecord
from .shapes import SHAPES

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("pairs", "probe", "throughput", "typed", "latency", "export", "import")


@attrs.frozen
class Config:
    """Sizes and rounds of one run; ``QUICK`` is the smoke-test shape."""

    # The goal figures: records per listing; a timed run is as many whole
    # walks of it as make it last pair_min_seconds (see pairs.measure). The
    # latency listing (400 pages) is long enough alone: 26 round trips at 16
    # in flight, of which the first page's, sequential for both, is a small share.
    pair_rounds: int = 9
    pair_min_seconds: float = 0.5
    pair_records: int = 20_000
    pair_typed_records: int = 20_000
    pair_latency_records: int = 40_000
    pair_figures: tuple[str, ...] = p.FIGURES
    pair_shapes: tuple[str, ...] = SHAPES
    rounds: int = 5
    throughput_records: int = 50_000
    throughput_records_1000: int = 100_000
    typed_records: int = 20_000
    latency_ms: float = 20.0
    latency_pages_100: int = 240
    latency_pages_1000: int = 40
    latency_concurrency: tuple[int, ...] = (1, 4, 8, 16)
    latency_rounds: int = 3
    export_sizes: tuple[int, ...] = (100_000, 1_000_000)
    export_rounds: int = 5
    export_concurrency: int = 1
    import_pairs: int = 9
    probe_records: int = 50_000


FULL = Config()
QUICK = Config(
    pair_rounds=3,
    pair_min_seconds=0.0,
    pair_records=1_000,
    pair_typed_records=500,
    pair_latency_records=1_600,
    rounds=2,
    throughput_records=1_000,
    throughput_records_1000=2_000,
    typed_records=500,
    latency_pages_100=8,
    latency_pages_1000=2,
    latency_rounds=1,
    export_sizes=(1_000, 5_000),
    export_rounds=1,
    import_pairs=1,
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def bench_server(latency_ms: float = 0.0) -> Iterator[tuple[str, str, int]]:
    """Start ``benchmarks.server`` in its own process; yield ``(base, token, pid)``."""
    cmd = [sys.executable, "-m", "benchmarks.server", "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = orjson.loads(proc.stdout.readline() or "null")
        if not ready:
            raise RuntimeError("the benchmark server did not start")
        yield f"http://127.0.0.1:{ready['port']}/v1", ready["token"], proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": list(samples),
    }


async def rounds(
    cases: Sequence[tuple[str, str, v.Walk, v.Target]], count: int, unit: str = "records/s"
) -> list[dict[str, Any]]:
    """Run every case ``count`` times, interleaved; one row per case."""
    for _, _, walk, target in cases:  # warm-up: connections, caches, lazy imports
        await walk(target)
    samples: dict[str, list[float]] = {key: [] for key, *_ in cases}
    for _ in range(count):
        for key, _, walk, target in cases:
            started = time.perf_counter()
            items, pages = await walk(target)
            elapsed = time.perf_counter() - started
            samples[key].append((pages if unit == "pages/s" else items) / elapsed)
    return [
        {"key": key, "label": label, "unit": unit, **summarize(samples[key])}
        for key, label, *_ in cases
    ]


# -- groups -------------------------------------------------------------------------


def group_pairs(cfg: Config, base: str, slow_base: str, token: str, note: Any) -> dict[str, Any]:
    sizes = {
        "dicts_seq": cfg.pair_records,
        "typed": cfg.pair_typed_records,
        "dicts_c8": cfg.pair_records,
        "latency_c16": cfg.pair_latency_records,
    }
    pairs = p.build(cfg.pair_figures, cfg.pair_shapes, sizes, base, slow_base, token)
    measured = asyncio.run(
        p.measure(pairs, cfg.pair_rounds, note, min_seconds=cfg.pair_min_seconds)
    )
    return {
        "name": "pairs",
        "title": f"The goal figures: library / raw, median of {cfg.pair_rounds} adjacent "
        f"pairs, 100 records/page, listings of {cfg.pair_records:,} records "
        f"(typed {cfg.pair_typed_records:,}; 20 ms latency {cfg.pair_latency_records:,}), "
        f"each run >= {cfg.pair_min_seconds:g} s",
        **measured,
    }


def group_throughput(cfg: Config, base: str, token: str) -> dict[str, Any]:
    n, n1000 = cfg.throughput_records, cfg.throughput_records_1000
    base = f"{base}/nested"
    page = v.Target(f"{base}/{n}", token, "/records", 100)
    cursor = v.Target(f"{base}/{n}", token, "/stream/records", 100)
    big = v.Target(f"{base}/{n1000}", token, "/records", 1000)
    cases = [
        ("raw_orjson", "raw aiohttp + orjson.loads (floor)", v.raw_aiohttp_orjson, page),
        ("raw_json", "raw aiohttp + resp.json()", v.raw_aiohttp_json, page),
        ("httpx_orjson", "httpx AsyncClient + orjson", v.httpx_orjson, page),
        ("lib_seq", "paginate() dicts, sequential", v.library(), page),
        ("raw_orjson_cursor", "raw aiohttp + orjson, cursor", v.raw_aiohttp_orjson, cursor),
        ("lib_seq_cursor", "paginate() dicts, cursor", v.library(), cursor),
        ("raw_orjson_1000", "raw aiohttp + orjson, 1000/page", v.raw_aiohttp_orjson, big),
        ("lib_seq_1000", "paginate() dicts, 1000/page", v.library(), big),
    ]
    if importlib.util.find_spec("httpx") is None:
        # httpx is in the bench extra, not the test extra the smoke test runs with.
        cases = [case for case in cases if case[0] != "httpx_orjson"]
    rows = asyncio.run(rounds(cases, cfg.rounds))
    return {
        "name": "throughput",
        "title": f"Other clients and endpoints, dicts, no latency: {n:,} nested records "
        f"at 100/page ({n1000:,} at 1000/page), records/s",
        "rows": rows,
    }


def group_typed(cfg: Config, base: str, token: str) -> dict[str, Any]:
    n = cfg.typed_records
    page = v.Target(f"{base}/nested/{n}", token, "/records", 100)
    cases = [
        ("cattrs_naive", "raw aiohttp + orjson + naive cattrs (UserRecord)", None, page),
        ("lib_record", "paginate(model=Record), its own class", v.library(model=v.Record), page),
        ("lib_user", "paginate(model=UserRecord)", v.library(model=UserRecord), page),
        ("raw_orjson_typed", "raw aiohttp + orjson, dicts (reference)", v.raw_aiohttp_orjson, page),
    ]
    walks = [(k, label, w or v.cattrs_loop(UserRecord), t) for k, label, w, t in cases]
    return {
        "name": "typed",
        "title": f"Typed items, the library's own Record too: {n:,} nested records "
        "at 100/page, records/s",
        "rows": asyncio.run(rounds(walks, cfg.rounds)),
    }


def group_latency(cfg: Config, base: str, token: str) -> dict[str, Any]:
    cases = []
    for size, pages in ((100, cfg.latency_pages_100), (1000, cfg.latency_pages_1000)):
        target = v.Target(f"{base}/nested/{size * pages}", token, "/records", size)
        for width in cfg.latency_concurrency:
            key = f"lib_c{width}_{size}"
            cases.append((key, f"paginate(concurrency={width}), {size}/page", target, width))
    walks = [(k, label, v.library(concurrency=w), t) for k, label, t, w in cases]
    return {
        "name": "latency",
        "title": f"Scaling with concurrency, {cfg.latency_ms:g} ms per page: "
        f"{cfg.latency_pages_100} pages of 100, {cfg.latency_pages_1000} pages of 1000, "
        "nested records, pages/s",
        "rows": asyncio.run(rounds(walks, cfg.latency_rounds, unit="pages/s")),
    }


def _child(mode: str, base: str, token: str, cfg: Config, out: str) -> dict[str, Any]:
    """One ``export``, ``export_nofsync`` or dict-mode ``walk`` in a fresh process."""
    cmd = [
        sys.executable, "-m", "benchmarks.child", mode.split("_")[0], "--base-url", base,
        "--token", token, "--page-size", "100", "--concurrency", str(cfg.export_concurrency),
        "--out", out,
    ]  # fmt: skip
    if mode == "export_nofsync":
        cmd.append("--no-fsync")
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {mode} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


# Export then the dict walk, adjacent in each round: the export goal is the
# median of their per-round ratios. fsync=False runs at the smallest size only
# (informational; at 1,000,000 records it would add a third to the longest group).
_EXPORT_MODES = {
    "export": "export() to JSON Lines",
    "walk": "paginate() dicts, counted",
    "export_nofsync": "export(fsync=False)",
}


def group_export(cfg: Config, base: str, token: str) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="accutics-bench-") as tmp:
        for size in cfg.export_sizes:
            url = f"{base}/nested/{size}"
            out = os.path.join(tmp, f"export-{size}.jsonl")
            _child("walk", url, token, cfg, out)  # warm-up (and the server's page cache)
            modes = [
                m for m in _EXPORT_MODES if m != "export_nofsync" or size == cfg.export_sizes[0]
            ]
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
            for _ in range(cfg.export_rounds):
                for mode in modes:
                    runs[mode].append(_child(mode, url, token, cfg, out))
            rates = {mode: [r["items"] / r["seconds"] for r in runs[mode]] for mode in modes}
            for mode in modes:
                row = {
                    "key": f"{mode}_{size}",
                    "label": f"{_EXPORT_MODES[mode]}, {size:,} records",
                    "unit": "records/s",
                    **summarize(rates[mode]),
                    "peak_rss_mb": summarize([r["maxrss_mb"] for r in runs[mode]]),
                    "bytes": runs[mode][0]["bytes"],
                }
                if mode == "export":
                    pairs = zip(rates["export"], rates["walk"], strict=True)
                    row["vs_walk"] = summarize([e / w for e, w in pairs])
                rows.append(row)
    return {
        "name": "export",
        "title": f"Export, each run in a fresh process (100/page, concurrency "
        f"{cfg.export_concurrency}): records/s and peak RSS",
        "rows": rows,
    }


_IMPORT = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"


def _compile_bytecode(module: str) -> None:
    """Write ``module``'s bytecode, as ``pip install`` does for an installed package.

    Under ``PYTHONDONTWRITEBYTECODE`` a checkout is never compiled, so each
    fresh interpreter would compile this package from source (about 40 ms
    here) while aiohttp loads the bytecode pip wrote: the figure would
    measure the compiler, not the import. A package whose bytecode cannot
    be written (a read-only directory) is refused rather than timed.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the import group cannot find {module}")
    compileall.compile_dir(os.path.dirname(spec.origin), quiet=2)
    if not os.path.exists(importlib.util.cache_from_source(spec.origin)):
        raise RuntimeError(
            f"no bytecode for {module} could be written; its import would time the compiler"
        )


def group_import(cfg: Config) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"aiohttp": [], "accutics_async": []}
    for module in samples:
        _compile_bytecode(module)
    for _ in range(cfg.import_pairs):
        for module in samples:
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT.format(module)],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                check=True,
            )
            samples[module].append(float(done.stdout) * 1000.0)
    return {
        "name": "import",
        "title": "Import time in a fresh interpreter, bytecode compiled, ms (lower is better)",
        "rows": [
            {"key": f"import_{m}", "label": f"import {m}", "unit": "ms", **summarize(s)}
            for m, s in samples.items()
        ],
    }


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux /proc), else None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _probe_rounds(target: v.Target, pid: int, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    _, cold_pages = await v.raw_aiohttp_orjson(target)  # first pass: pages built, then cached
    cold = cold_pages / (time.perf_counter() - started)
    rates, served = [], 0
    before = _cpu_seconds(pid)
    for _ in range(count):
        started = time.perf_counter()
        _, pages = await v.raw_aiohttp_orjson(target)
        rates.append(pages / (time.perf_counter() - started))
        served += pages
    after = _cpu_seconds(pid)
    # Over all rounds together: /proc counts CPU time in 10 ms ticks.
    cpu = None if before is None or after is None else (after - before) / served * 1e6
    return {**summarize(rates), "first_pass_pages_per_s": cold, "server_cpu_us_per_page": cpu}


def group_probe(cfg: Config, base: str, token: str, pid: int) -> dict[str, Any]:
    """The fake server's page path against the benchmark server's, raw aiohttp loop.

    The client is the same raw loop for both, so pages/s is bounded by the
    client; the server's own CPU per page (from /proc) and the first, cold
    pass (pages built, not cached) show what each server costs.
    """
    from .probe import fake_server

    n = cfg.probe_records
    rows = []
    with fake_server(n) as (fake_base, fake_token, fake_pid):
        bench = f"{base}/nested/{n}"
        servers = (("fake", fake_base, fake_token, fake_pid), ("bench", bench, token, pid))
        for name, url, tok, server_pid in servers:
            for path in ("/records", "/stream/records"):
                target = v.Target(url, tok, path, 100)
                row = asyncio.run(_probe_rounds(target, server_pid, 3))
                key = f"{name}_{path.strip('/').replace('/', '_')}"
                label = f"{name} server, {path}"
                rows.append({"key": key, "label": label, "unit": "pages/s", **row})
    return {
        "name": "probe",
        "title": f"Server probe: {n // 100} pages of 100 to a raw aiohttp+orjson client, "
        "pages/s (cached pages after the first pass)",
        "rows": rows,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
    packages = ("accutics-async", "aiohttp", "httpx", "orjson", "cattrs", "attrs", "tenacity")
    versions = {}
    for name in packages:
        with contextlib.suppress(Exception):
            versions[name] = version(name)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }


def run(cfg: Config, groups: Sequence[str], progress: Any = None) -> dict[str, Any]:
    """Run the selected groups; return the results document (goals included)."""
    from .goals import evaluate

    started = time.perf_counter()
    results: dict[str, Any] = {
        "version": 1,
        "machine": machine(),
        "config": attrs.asdict(cfg),
        "groups": [],
    }

    def note(text: str) -> None:
        if progress is not None:
            progress(text)

    with contextlib.ExitStack() as stack:
        base, token, pid = stack.enter_context(bench_server())
        slow_base = ""
        if "pairs" in groups or "latency" in groups:
            slow_base, _, _ = stack.enter_context(bench_server(cfg.latency_ms))
        for name in groups:
            if name == "import":
                continue
            note(f"running {name} ...")
            begun = time.perf_counter()
            if name == "pairs":
                group = group_pairs(cfg, base, slow_base, token, note)
            elif name == "probe":
                group = group_probe(cfg, base, token, pid)
            elif name == "latency":
                group = group_latency(cfg, slow_base, token)
            else:
                run_group = {
                    "throughput": group_throughput,
                    "typed": group_typed,
                    "export": group_export,
                }[name]
                group = run_group(cfg, base, token)
            group["elapsed_s"] = time.perf_counter() - begun
            note(f"  {name}: {group['elapsed_s']:.0f} s")
            results["groups"].append(group)
    if "import" in groups:
        note("running import ...")
        begun = time.perf_counter()
        results["groups"].append({**group_import(cfg), "elapsed_s": time.perf_counter() - begun})
    results["goals"] = evaluate(results)
    results["elapsed_s"] = time.perf_counter() - started
    return results
