"""``--concurrency`` is one budget for every shard (run as a user would), and a short stats repr."""

from __future__ import annotations

from pathlib import Path

from cli_support import run_accutics, server_env

from accutics_async import AccuticsClient
from accutics_async.export import export
from accutics_async.testing import FakeAccuticsServer


async def test_concurrency_is_one_budget_for_all_shards(tmp_path: Path) -> None:
    async with FakeAccuticsServer(records=400, seed=5, faults="latency=20ms") as server:
        out = tmp_path / "sharded.jsonl"
        argv = ["export", server.cursor_endpoint, "--out", str(out), "--shards", "8"]
        argv += ["--concurrency", "2", "--page-size", "20", "--no-progress", "--no-fsync"]
        run = await run_accutics(*argv, env=server_env(server))
        assert run.code == 0, run.stderr
        assert server.stats.total_requests > 8 * 2  # every shard walked several pages
        assert server.stats.peak_in_flight <= 2
        clean = tmp_path / "clean.jsonl"
        async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
            await export(client, server.cursor_endpoint, clean, page_size=20, fsync=False)
        assert out.read_bytes() == clean.read_bytes()


async def test_stats_repr_is_short_and_holds_no_token() -> None:
    async with FakeAccuticsServer(records=300, seed=2) as server:
        async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
            await client.paginate(server.page_endpoint, page_size=10).collect()
            for record in (await client.get("/records", params={"page_size": 50})).data:  # type: ignore[union-attr]
                await client.get(("records", record["id"]))  # type: ignore[index]
        text = repr(server.stats)
        assert server.stats.total_requests == 81
        assert "total_requests=81" in text
        assert "log=<81 requests>" in text
        assert len(text) < 400
        assert server.token not in text
