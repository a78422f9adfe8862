"""Sequences of incremental syncs against the fake server: both endpoint styles, both sinks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from sync_support import assert_in_step, current, log_versions, table_rows

from accutics_async import AccuticsClient, ConfigurationError, SyncError
from accutics_async.sync import DEFAULT_LOOKBACK, sync
from accutics_async.testing import FakeAccuticsServer, FakeClock
from accutics_async.testing._schema import WRITABLE_FIELDS

ENDPOINTS = ["/records", "/stream/records"]
SINKS = ["copy.sqlite", "changes.jsonl"]


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    # A still clock: every write shares one second until the test moves it on.
    async with FakeAccuticsServer(records=40, seed=3, max_page_size=10, clock=FakeClock()) as s:
        yield s


@pytest.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    async with AccuticsClient(server.token, base_url=server.base_url) as c:
        yield c


def ids(server: FakeAccuticsServer) -> list[str]:
    return [record["id"] for record in server.all_records()]


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_sequence_of_runs_keeps_the_sink_in_step(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path, endpoint: str, sink: str
) -> None:
    into = tmp_path / sink
    clock = server.clock
    assert clock is not None

    async def run(**kwargs: object) -> None:
        await sync(client, endpoint, into, **kwargs)  # type: ignore[arg-type]

    first = await sync(client, endpoint, into)
    assert first.upserted == 40
    assert first.unchanged == 0
    assert_in_step(server, into)

    # Inserts and updates, several in the same second as each other.
    for _ in range(4):
        server.create_record()
    for ident in ids(server)[:3]:
        server.update_record(ident, {"input_content": "second run"})
    second = await sync(client, endpoint, into)
    assert second.upserted == 7
    assert_in_step(server, into)

    # Ties: more records in one second than a page holds (25 > 10), at the watermark.
    clock.advance(1)
    for _ in range(25):
        server.create_record()
    for ident in ids(server)[5:8]:
        server.update_record(ident, {"input_content": "crowded"})
    third = await sync(client, endpoint, into)
    assert third.upserted == 28
    assert_in_step(server, into)

    # Late commits: stamped before records already synced, within the lookback.
    clock.advance(100)
    server.create_record()
    await run()
    server.create_record(stamp=clock.now - 60)
    server.update_record(ids(server)[10], {"input_content": "late"}, stamp=clock.now - 30)
    late = await sync(client, endpoint, into)
    assert late.upserted == 2
    assert_in_step(server, into)

    # Changes while a run walks: after its first page, records move and arrive.
    clock.advance(5)
    targets = ids(server)[:12]

    def change() -> None:
        for ident in targets:
            server.update_record(ident, {"input_content": "mid-walk"})
        server.create_record()

    server.after_pages(1, change)
    await run(lookback=DEFAULT_LOOKBACK * 1000)  # a walk of many pages
    await run()  # whatever the walk could not see is this run's
    assert_in_step(server, into)

    # Nothing changed: every record read again is unchanged, nothing is written.
    size = into.stat().st_size if sink.endswith(".jsonl") else None
    idle = await sync(client, endpoint, into)
    assert idle.upserted == 0
    if size is not None:
        assert into.stat().st_size == size
    assert_in_step(server, into)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_an_idle_run_asks_only_for_the_lookback_window(tmp_path: Path, endpoint: str) -> None:
    async with FakeAccuticsServer(records=300, seed=5, max_page_size=50) as server:
        client = AccuticsClient(server.token, base_url=server.base_url)
        async with client:
            into = tmp_path / "copy.sqlite"
            await sync(client, endpoint, into)
            newest = max(r["updated_at"] for r in server.all_records())
            server.reset_stats()
            result = await sync(client, endpoint, into, lookback=3600)
    window = _iso(_epoch(newest) - 3600)
    in_window = [r for r in server.all_records() if r["updated_at"] >= window]
    assert 0 < len(in_window) < 50  # the test means something: a window smaller than a page
    assert [r.path_qs.split("?")[1] for r in server.request_log] == [
        f"search=updated_at:gte:{window}&sort=updated_at,id"
    ]
    assert server.stats.items_served == len(in_window)
    assert (result.upserted, result.unchanged) == (0, len(in_window))
    assert result.watermark == newest


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_full_run_after_deletions_drops_the_rows_that_are_gone(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path, endpoint: str
) -> None:
    into = tmp_path / "copy.sqlite"
    await sync(client, endpoint, into)
    gone = ids(server)[::7]
    for ident in gone:
        server.delete_record(ident)
    server.update_record(ids(server)[0], {"input_content": "and changed"})
    incremental = await sync(client, endpoint, into)
    assert incremental.deleted == 0
    assert set(gone) <= table_rows(into).keys()  # invisible to an incremental walk
    result = await sync(client, endpoint, into, full=True)
    assert result.full
    assert result.deleted == len(gone)
    assert_in_step(server, into)
    assert (await sync(client, endpoint, into)).deleted == 0


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_cancelled_run_is_finished_by_the_next(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path, endpoint: str, sink: str
) -> None:
    into = tmp_path / sink
    await sync(client, endpoint, into)
    for ident in ids(server)[::3]:
        server.delete_record(ident)
    for _ in range(30):
        server.create_record()
    task = asyncio.create_task(sync(client, endpoint, into, full=True))
    server.after_pages(2, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancelled full run committed its pages; a plain run finishes it, deletions too.
    result = await sync(client, endpoint, into)
    assert result.full
    assert_in_step(server, into)
    if sink.endswith(".sqlite"):
        assert result.deleted == len(range(0, 40, 3))


async def test_a_user_search_narrows_every_run(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    into = tmp_path / "email.sqlite"
    await sync(client, "/records", into, search="input_medium:eq:email")
    server.create_record({**_writable(server), "input_medium": "email"})
    server.create_record({**_writable(server), "input_medium": "social"})
    await sync(client, "/records", into, search="input_medium:eq:email")
    wanted = {i: r for i, r in current(server).items() if r.get("input_medium") == "email"}
    assert wanted
    assert table_rows(into) == wanted
    searches = [r.path_qs for r in server.request_log if "search" in r.path_qs]
    assert all("input_medium:eq:email" in qs for qs in searches)
    with pytest.raises(SyncError, match="full"):
        await sync(client, "/records", into)  # another query into the same table


async def test_sinks_refuse_what_does_not_fit(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    with pytest.raises(SyncError, match="sink"):
        await sync(client, "/records", tmp_path / "copy.csv")
    stranger = tmp_path / "notes.jsonl"
    stranger.write_text('{"id": "x"}\n')
    with pytest.raises(SyncError, match="not written by a sync"):
        await sync(client, "/records", stranger)
    assert stranger.read_text() == '{"id": "x"}\n'
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.sqlite"
        os.mkfifo(fifo)
        with pytest.raises(SyncError, match="not a regular file"):
            await sync(client, "/records", fifo)  # refused, not opened (which would hang)
    not_db = tmp_path / "text.db"
    not_db.write_text("hello")
    with pytest.raises(SyncError):
        await sync(client, "/records", not_db)
    into = tmp_path / "copy.sqlite"
    await sync(client, "/records", into)
    asked = server.stats.total_requests
    with pytest.raises(SyncError, match="key"):
        await sync(client, "/records", into, key="created_at", table="records")
    with pytest.raises(SyncError, match="table"):
        await sync(client, "/records", into, table="bad name")
    with pytest.raises(ConfigurationError, match="lookback"):
        await sync(client, "/records", into, lookback=-1)
    assert server.stats.total_requests == asked  # refused before any request


async def test_the_change_log_state_is_committed_with_the_lines(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    into = tmp_path / "changes.jsonl"
    await sync(client, "/records", into)
    # A killed run's appended but uncommitted tail is cut off by the next run.
    with into.open("ab") as handle:
        handle.write(b'{"id": "half written"')
    server.create_record()
    await sync(client, "/records", into)
    lines = log_versions(into)
    assert len(lines) == 41
    assert all(orjson.loads(line)["id"] for line in lines)
    state = orjson.loads((tmp_path / "changes.jsonl.sync-state.json").read_bytes())
    assert state["offset"] == into.stat().st_size


async def test_the_sqlite_state_lives_in_the_database(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    into = tmp_path / "copy.db"
    result = await sync(client, "/stream/records", into, table="taxonomy")
    conn = sqlite3.connect(into)
    try:
        query = "SELECT state FROM accutics_sync_state WHERE tbl = 'taxonomy'"
        (state,) = conn.execute(query).fetchone()
        count = conn.execute("SELECT count(*) FROM taxonomy").fetchone()[0]
    finally:
        conn.close()
    assert count == 40
    assert orjson.loads(state)["watermark"] == result.watermark


def _writable(server: FakeAccuticsServer) -> dict[str, object]:
    return {k: v for k, v in server.all_records()[0].items() if k in WRITABLE_FIELDS}


def _epoch(text: str) -> int:
    when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(when.timestamp())


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_full_run_does_not_delete_a_record_committed_late_behind_its_walk(
    tmp_path: Path, endpoint: str
) -> None:
    clock = FakeClock("2024-01-01T00:00:00Z", step=1)  # one record a second
    async with FakeAccuticsServer(records=0, seed=2, max_page_size=10, clock=clock) as server:
        made = [server.create_record() for _ in range(30)]
        into = tmp_path / "copy.sqlite"
        async with AccuticsClient(server.token, base_url=server.base_url) as client:
            await sync(client, endpoint, into)
            # While the full walk is at its second page, a record it has not reached
            # yet is updated with a stamp behind the walk (a late commit).
            late = made[25]["id"]
            start = made[5]["updated_at"]
            server.after_pages(2, lambda: server.update_record(late, {}, stamp=start))
            result = await sync(client, endpoint, into, full=True)
        assert result.deleted == 0
        assert_in_step(server, into)


@pytest.mark.parametrize("lookback", [0, 60])
@pytest.mark.parametrize("sink", ["copy.sqlite", "changes.jsonl"])
async def test_a_cursor_run_keeps_a_record_updated_behind_its_cursor(
    tmp_path: Path, sink: str, lookback: int
) -> None:
    # A record already served is updated within the second the cursor is in,
    # before the cursor's id, so the walk does not meet it again; then the walk
    # runs on for longer than the lookback (new records keep coming). On
    # 9979521 the next run started after that second and the update was
    # never synced; the walk now restarts no later than its start on the
    # server's clock.
    clock = FakeClock()
    into = tmp_path / sink
    server = FakeAccuticsServer(records=0, seed=1, max_page_size=5, clock=clock)
    async with server, AccuticsClient(server.token, base_url=server.base_url) as client:
        clock.set("2024-05-01T12:00:00Z")
        for _ in range(7):
            server.create_record()
        await sync(client, "/stream/records", into, lookback=lookback)
        assert_in_step(server, into)
        first = min(record["id"] for record in server.all_records())

        def change_during_the_walk() -> None:
            server.update_record(first, {"input_content": "changed mid-walk"})
            clock.advance(2 * lookback + 1)
            server.create_record()

        server.after_pages(1, change_during_the_walk)
        await sync(client, "/stream/records", into, lookback=lookback)
        await sync(client, "/stream/records", into, lookback=lookback)  # a later, quiet run
        assert_in_step(server, into)


async def test_a_server_date_behind_the_records_does_not_send_a_cursor_run_back(
    tmp_path: Path,
) -> None:
    # The walk restarts no later than its start on the server's clock, but
    # never before the previous run's restart: a Date behind the records (a
    # cached answer, a server clock gone wrong) must not make an idle run
    # drift back.
    clock = FakeClock()
    into = tmp_path / "changes.jsonl"
    server = FakeAccuticsServer(records=0, seed=1, max_page_size=5, clock=clock)
    async with server, AccuticsClient(server.token, base_url=server.base_url) as client:
        clock.set("2024-05-01T12:00:00Z")
        for _ in range(7):
            server.create_record()
        await sync(client, "/stream/records", into, lookback=0)
        saved = orjson.loads((tmp_path / "changes.jsonl.sync-state.json").read_bytes())
        clock.set("2024-05-01T11:00:00Z")  # the answers' Date, an hour behind
        await sync(client, "/stream/records", into, lookback=0)
        again = orjson.loads((tmp_path / "changes.jsonl.sync-state.json").read_bytes())
    assert again["restart"] == saved["restart"]


@pytest.mark.parametrize("query", ["search=input_medium:exists", "sort=id"])
async def test_a_path_whose_query_sets_what_the_sync_sets_is_refused_before_any_request(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path, query: str
) -> None:
    before = server.stats.total_requests
    with pytest.raises(ConfigurationError, match="the path's query"):
        await sync(client, f"/stream/records?{query}", tmp_path / "copy.sqlite")
    assert server.stats.total_requests == before


async def test_a_crowded_second_may_be_fetched_concurrently(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    into = tmp_path / "copy.sqlite"
    await sync(client, "/records", into)
    for _ in range(45):  # one second, four and a half pages
        server.create_record()
    result = await sync(client, "/records", into, concurrency=3)
    assert result.upserted == 45
    assert_in_step(server, into)
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        await sync(client, "/records", into, concurrency=99)
