"""Fault soak: 50,000 records exported through ~21% faulted requests, exactly once, in order.

The fake server injects a seeded mix of 500/502/503, 429 with a short
Retry-After, dropped connections, truncated bodies, HTML proxy pages and
latency. The export must hold every record exactly once in the server's
order, and nothing the library or the CLI produces on the way (logs at DEBUG
from every logger, checkpoints, the exported file, exceptions, CLI output)
may contain the token.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    CLI,
    FAST_RETRY,
    SOAK_FAULTS,
    Capture,
    capture_logs,
    cli_env,
    jsonl_ids,
    report,
)

from accutics_async import AccuticsClient, AccuticsError, F
from accutics_async.errors import TRANSPORT_ERROR_KINDS
from accutics_async.export import ExportProgress, export, export_sharded, read_checkpoint
from accutics_async.testing import FakeAccuticsServer

RECORDS = 50_000
FAULT_KINDS = ("500", "502", "503", "429", "reset", "truncate", "html")


def _retries_match_faults(client: AccuticsClient, server: FakeAccuticsServer) -> dict[str, int]:
    """Every injected fault cost exactly one retry of the matching reason; return the figures.

    aiohttp itself re-sends an idempotent request once when a reused
    connection is dropped before the answer, so some resets never reach the
    library: those are the server's requests the client did not count.
    """
    faults = server.stats.faults
    stats = client.stats
    absorbed = server.stats.total_requests - stats["attempts"]
    assert 0 <= absorbed <= faults["reset"]
    expected = {
        "retries.status_500": faults["500"],
        "retries.status_502": faults["502"] + faults["html"],  # the HTML page is a 502
        "retries.status_503": faults["503"],
        "retries.status_429": faults["429"],
    }
    retries = {key: value for key, value in stats.items() if key.startswith("retries.")}
    # Transport faults are counted by TransportError.kind (reset, truncated, ...).
    transport = {f"retries.{kind}" for kind in TRANSPORT_ERROR_KINDS}
    by_status = {key: value for key, value in retries.items() if key not in transport}
    assert by_status == {key: value for key, value in expected.items() if value}
    retries["retries.transport"] = sum(retries.get(key, 0) for key in transport)
    assert retries["retries.transport"] == faults["truncate"] + faults["reset"] - absorbed
    assert stats["attempts"] == stats["requests"] + sum(by_status.values()) + sum(
        retries.get(key, 0) for key in transport
    )
    return {**retries, "resets_resent_by_aiohttp": absorbed}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("style", "concurrency", "shards"),
    [("page", 1, None), ("page", 8, None), ("cursor", 1, None), ("cursor", 1, 4)],
    ids=["page-sequential", "page-concurrency8", "cursor-sequential", "cursor-4-shards"],
)
async def test_soak_exports_every_record_exactly_once(
    tmp_path: Path, record_property: Any, style: str, concurrency: int, shards: int | None
) -> None:
    capture = Capture()
    out = tmp_path / "soak.jsonl"
    snapshots = 0

    def progress(state: ExportProgress) -> None:
        nonlocal snapshots
        if state.pages % 25 == 0:  # the checkpoint files as they stand mid-export
            for found in tmp_path.glob("*.json"):
                capture.add_file(found)
                snapshots += 1

    async with FakeAccuticsServer(records=RECORDS, seed=7, faults=SOAK_FAULTS) as server:
        expected = [record["id"] for record in server.all_records()]
        path = server.page_endpoint if style == "page" else server.cursor_endpoint
        with capture_logs(capture) as logs:
            async with AccuticsClient(
                server.token, base_url=server.base_url, retry=FAST_RETRY, max_concurrency=8
            ) as client:
                if shards:
                    result = await export_sharded(
                        client, path, out, shards=shards, page_size=100, fsync=False
                    )
                else:
                    result = await export(
                        client,
                        path,
                        out,
                        page_size=100,
                        concurrency=concurrency,
                        fsync=False,
                        progress=progress,
                    )
                capture.add("client repr", repr(client))
                capture.add("result", result)
        ids = jsonl_ids(out)
        # Every record exactly once, in the server's order.
        assert len(ids) == len(set(ids)) == RECORDS
        assert ids == expected
        assert result.records == RECORDS
        assert read_checkpoint(out) is None
        faults = server.stats.faults
        injected = sum(faults[kind] for kind in FAULT_KINDS)
        rate = injected / server.stats.total_requests
        assert all(faults[kind] > 0 for kind in FAULT_KINDS), faults
        assert 0.15 <= rate <= 0.28, rate
        retries = _retries_match_faults(client, server)
    capture.add_file(out)
    scanned = capture.assert_clean(server.token)
    assert logs.count > 0  # the capture did see the library's DEBUG records
    assert shards or snapshots > 0
    report(
        record_property,
        f"soak[{style},c{concurrency},shards{shards or 0}]",
        {
            "records_checked": len(ids),
            "requests": server.stats.total_requests,
            "faults_injected": {kind: faults[kind] for kind in FAULT_KINDS},
            "fault_rate": round(rate, 3),
            "client_retries": retries,
            "log_records_scanned": logs.count,
            "chars_scanned_for_token": scanned,
        },
    )


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_dropped_connections_that_surface_are_retried(
    tmp_path: Path, record_property: Any, concurrency: int
) -> None:
    """Resets often enough that aiohttp's own single re-send is not enough, so ours is used."""
    spec = "reset=0.45,truncate=0.05,seed=9,only=collections"
    async with FakeAccuticsServer(records=5_000, seed=7, faults=spec) as server:
        async with AccuticsClient(
            server.token, base_url=server.base_url, retry=FAST_RETRY
        ) as client:
            out = tmp_path / "resets.jsonl"
            await export(
                client,
                server.page_endpoint,
                out,
                page_size=100,
                fsync=False,
                concurrency=concurrency,
            )
        assert jsonl_ids(out) == [record["id"] for record in server.all_records()]
        retries = _retries_match_faults(client, server)
    assert retries["retries.transport"] > server.stats.faults["truncate"]
    report(
        record_property,
        f"resets[c{concurrency}]",
        {"faults_injected": dict(server.stats.faults), "client_retries": retries},
    )


async def test_errors_under_faults_never_show_the_token(record_property: Any) -> None:
    """With retries off, every fault surfaces as a typed error whose every text is token-free."""
    capture = Capture()
    kinds: Counter[str] = Counter()
    spec = SOAK_FAULTS.replace("seed=3", "seed=5").replace("only=collections", "only=reads")
    async with FakeAccuticsServer(records=300, seed=7, faults=spec) as server:
        ids = [record["id"] for record in server.all_records()]
        with capture_logs(capture):
            async with AccuticsClient(server.token, base_url=server.base_url, retry=None) as client:
                for index in range(400):
                    try:
                        if index % 2:
                            resp = await client.get(("records", ids[index % len(ids)]))
                        else:
                            resp = await client.get(server.page_endpoint, params={"page": 2})
                        capture.add("response", resp)
                    except AccuticsError as exc:
                        kinds[type(exc).__name__] += 1
                        capture.add_exception(exc)
                pager = client.paginate(server.cursor_endpoint, page_size=10)
                with pytest.raises(AccuticsError) as info:
                    async for _ in pager:
                        pass
                capture.add_exception(info.value)
                capture.add("checkpoint", pager.checkpoint)
                capture.add("pager", repr(pager))
    assert {"ServerError", "RateLimitError", "TransportError"} <= set(kinds), kinds
    capture.assert_clean(server.token)
    report(record_property, "typed_errors_under_faults", dict(kinds))


async def _run_cli(*args: str, env: dict[str, str], capture: Capture) -> int:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    capture.add(f"cli {args[0]} stdout", stdout)
    capture.add(f"cli {args[0]} stderr", stderr)
    assert proc.returncode is not None
    return proc.returncode


@pytest.mark.slow
async def test_cli_under_faults_never_shows_the_token(tmp_path: Path) -> None:
    """The ``accutics`` command under the soak's faults keeps the token out of every output."""
    capture = Capture()
    async with FakeAccuticsServer(records=20_000, seed=7, faults=SOAK_FAULTS) as server:
        records = server.all_records()
        # 3,000 records: a created_at range, as a shard would ask for it.
        search = F("created_at").gte(records[1000]["created_at"]) & F("created_at").lt(
            records[4000]["created_at"]
        )
        expected = [r["id"] for r in records[1000:4000]]
        env = cli_env(server.token, server.base_url)
        out = tmp_path / "cli.jsonl"
        argv = ["export", server.page_endpoint, "--out", str(out), "--page-size", "100"]
        argv += ["--search", str(search), "--no-progress"]
        code = await _run_cli(*argv, env=env, capture=capture)
        # The default policy (4 attempts) may give up on a page: then --resume finishes it.
        for _ in range(3):
            if code == 0:
                break
            assert code in (3, 4)
            for found in os.listdir(tmp_path):
                capture.add_file(tmp_path / found)
            code = await _run_cli(*argv, "--resume", env=env, capture=capture)
        assert code == 0
        assert jsonl_ids(out) == expected
        capture.add_file(out)
        # Errors, with and without the traceback that ACCUTICS_DEBUG shows.
        assert await _run_cli("get", "/records/no-such-id", env=env, capture=capture) == 3
        debug_env = {**env, "ACCUTICS_DEBUG": "1"}
        assert await _run_cli("get", "/records/no-such-id", env=debug_env, capture=capture) != 0
    assert any("Traceback" in text for _, text in capture.texts)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".json")]
    capture.assert_clean(server.token)
