"""Files recorded by an earlier version still resume, exactly once, and still fit their query.

The files in ``tests/fixtures/recorded/`` (written by ``record.py`` there,
never by these tests) are interrupted exports (JSON Lines and CSV, page
number and cursor listings), a sharded export part-way (a finished shard, a
shard whose pager is done but whose file is not, two shards in the middle)
and the state of interrupted first syncs into SQLite and into a change log.
Each test copies them into a temporary directory, resumes against the fake
server with the dataset of the recording, and checks the result byte for
byte against an uninterrupted run, and the fingerprints against the literal
values written when the files were recorded: a change to how a query is
fingerprinted or a checkpoint is read breaks every user's saved state, and
must fail here first.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from recorded_support import BASE_URL, PAGE, QUERY, RECORDED, RECORDS, SHARDS, fake_server
from recorded_support import recorded_client as connect
from sync_support import assert_in_step, log_versions

from accutics_async import AccuticsClient
from accutics_async.errors import ExportError, SyncError
from accutics_async.export import export, export_sharded, read_checkpoint
from accutics_async.sync import sync
from accutics_async.testing import FakeAccuticsServer

MANIFEST = orjson.loads((RECORDED / "manifest.json").read_bytes())

#: The recorded shard plan's shards (created_at ranges) and their pagers' fingerprints.
SHARD_SEARCHES = [
    "created_at:lt:2020-01-01T00:51:02Z",
    "created_at:gte:2020-01-01T00:51:02Z;created_at:lt:2020-01-01T01:39:02Z",
    "created_at:gte:2020-01-01T01:39:02Z;created_at:lt:2020-01-01T02:27:01Z",
    "created_at:gte:2020-01-01T02:27:01Z",
]
SHARD_FINGERPRINTS = {
    1: "3aee8de7dacdd6e78f4960af",
    2: "634fe647e07d9fa1784d7961",
    4: "a77159e295a377dbb6ef3861",
}
RECORDED_PAGES = 3  # each export was stopped after its third page
PLAIN = {"page_size": PAGE}
#: What export() saved of the query, and its pager's fingerprint, when recorded.
SAVED_PLAIN = {"search": None, "sort": None, "page_size": PAGE, "params": []}
SAVED_QUERY = {
    "search": "input_medium:neq:email",
    "sort": "input_source,-created_at",
    "page_size": 4,
    "params": [["zeta", "1"], ["alpha", "b"], ["alpha", "a"], ["flag", "true"]],
}
EXPORTS = [
    # case, listing, format, query, saved query, fingerprint, records in all
    pytest.param(
        "export-page-jsonl", "/records", "jsonl", PLAIN, SAVED_PLAIN,
        "090c66e653fef79603403f73", RECORDS, id="page-jsonl",
    ),
    pytest.param(
        "export-page-csv", "/records", "csv", PLAIN, SAVED_PLAIN,
        "090c66e653fef79603403f73", RECORDS, id="page-csv",
    ),
    pytest.param(
        "export-cursor-jsonl", "/stream/records", "jsonl", PLAIN, SAVED_PLAIN,
        "0abaabe9c8a9d2514f6994d9", RECORDS, id="cursor-jsonl",
    ),
    pytest.param(
        "export-cursor-csv", "/stream/records", "csv", PLAIN, SAVED_PLAIN,
        "0abaabe9c8a9d2514f6994d9", RECORDS, id="cursor-csv",
    ),
    pytest.param(
        "export-page-jsonl-query", "/records", "jsonl", QUERY, SAVED_QUERY,
        "74226b4b6225b1cce497de65", 32, id="page-jsonl-query",
    ),
]  # fmt: skip
EXPORT_ARGS = ("case", "path", "fmt", "query", "saved_query", "fp", "total")


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    """The fake server with the recording's dataset."""
    async with fake_server() as srv:
        yield srv


@pytest_asyncio.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    """A client on the recording's origin, connected to ``server``."""
    async with connect(server) as c:
        yield c


def copy_recorded(case: str, into: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Copy a recorded case into ``into``, work from there; return the files' bytes."""
    source = RECORDED / case
    shutil.copytree(source, into, dirs_exist_ok=True)
    monkeypatch.chdir(into)
    return {path.name: path.read_bytes() for path in sorted(source.iterdir())}


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def assert_manifest_digest(data: bytes, expected: dict[str, Any]) -> None:
    """``data`` is what the uninterrupted run wrote when the files were recorded."""
    assert {"bytes": len(data), "sha256": sha256(data).hexdigest()} == expected


async def fingerprint_today(client: AccuticsClient, path: str, **query: Any) -> str:
    """The fingerprint today's pager gives the query (no request is made)."""
    pager = client.paginate(path, **query)
    try:
        return str(pager.checkpoint["fingerprint"])
    finally:
        await pager.aclose()


# -- exports --------------------------------------------------------------------------


@pytest.mark.parametrize(EXPORT_ARGS, EXPORTS)
async def test_a_recorded_checkpoint_holds_the_fingerprint_todays_pager_gives(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    path: str,
    fmt: str,
    query: dict[str, Any],
    saved_query: dict[str, Any],
    fp: str,
    total: int,
) -> None:
    copy_recorded(case, tmp_path, monkeypatch)
    saved = read_checkpoint(f"records.{fmt}")
    assert saved is not None
    assert (saved["kind"], saved["version"], saved["format"]) == ("accutics_async.export", 1, fmt)
    assert saved["pager"]["fingerprint"] == fp
    assert saved["query"] == {"path": path, **saved_query}
    assert (saved["records"], saved["total_items"]) == (
        RECORDED_PAGES * saved_query["page_size"],
        None if "cursor" in case else total,
    )
    # No connection is made: building a pager only computes its checkpoint.
    async with AccuticsClient(token="not-used", base_url=BASE_URL) as offline:
        assert await fingerprint_today(offline, path, **query) == fp


@pytest.mark.parametrize(EXPORT_ARGS, EXPORTS)
async def test_resuming_a_recorded_export_gives_the_uninterrupted_export(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    path: str,
    fmt: str,
    query: dict[str, Any],
    saved_query: dict[str, Any],
    fp: str,
    total: int,
) -> None:
    out, size = f"records.{fmt}", saved_query["page_size"]
    recorded = copy_recorded(case, tmp_path / "resumed", monkeypatch)
    (tmp_path / "clean").mkdir()
    clean = tmp_path / "clean" / out
    await export(client, path, clean, **query)
    assert_manifest_digest(clean.read_bytes(), MANIFEST[case]["clean"])
    pages_before = server.listing_pages

    # Fan-out (page numbers only) does not change what a checkpoint resumes.
    fan_out = 2 if path == "/records" else 1
    result = await export(client, path, out, resume=True, concurrency=fan_out, **query)

    finished = (tmp_path / "resumed" / out).read_bytes()
    assert finished == clean.read_bytes()
    # The recorded pages were kept as they were, and not one was fetched again.
    assert finished.startswith(recorded[f"{out}.part"])
    assert server.listing_pages - pages_before == -(-total // size) - RECORDED_PAGES
    assert (result.records, result.resumed_records) == (total, RECORDED_PAGES * size)
    assert sorted(files_of(Path.cwd())) == [out]
    if fmt == "jsonl":
        ids = [orjson.loads(line)["id"] for line in finished.splitlines()]
        assert len(ids) == len(set(ids)) == total
        if query is PLAIN:
            assert ids == [record["id"] for record in server.all_records()]


@pytest.mark.parametrize(EXPORT_ARGS, EXPORTS)
async def test_a_recorded_checkpoint_refuses_another_query_and_keeps_its_files(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    path: str,
    fmt: str,
    query: dict[str, Any],
    saved_query: dict[str, Any],
    fp: str,
    total: int,
) -> None:
    copy_recorded(case, tmp_path, monkeypatch)
    before = files_of(tmp_path)
    pages_before = server.listing_pages
    out = f"records.{fmt}"
    others = [
        {**query, "search": "input_medium:eq:email"},
        {**query, "page_size": saved_query["page_size"] + 1},
        {**query, "params": {"zeta": "2"}},
    ]
    for other in others:
        with pytest.raises(ExportError, match="belongs to another export") as caught:
            await export(client, path, out, resume=True, **other)
        assert caught.value.path == f"{out}.checkpoint.json"
    another_path = "/stream/records" if path == "/records" else "/records"
    with pytest.raises(ExportError, match="belongs to another export"):
        await export(client, another_path, out, resume=True, **query)
    another_format = "csv" if fmt == "jsonl" else "jsonl"
    with pytest.raises(ExportError, match=f"is for a {fmt} export, not {another_format}"):
        await export(client, path, out, format=another_format, resume=True, **query)
    assert files_of(tmp_path) == before
    assert server.listing_pages == pages_before


# -- a sharded export -----------------------------------------------------------------


def test_the_recorded_shard_plan_is_in_the_format_of_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_recorded("sharded-cursor-jsonl", tmp_path, monkeypatch)
    plan = orjson.loads(Path("records.jsonl.shards.json").read_bytes())
    assert (plan["kind"], plan["version"], plan["format"]) == ("accutics_async.shards", 1, "jsonl")
    assert plan["query"] == {
        "path": "/stream/records",
        "search": None,
        "sort": None,
        "page_size": 1,
        "params": [],
        "field": "created_at",
    }
    assert [shard["search"] for shard in plan["shards"]] == SHARD_SEARCHES
    assert [shard["out"] for shard in plan["shards"]] == [
        f"records.jsonl.shard-{k:03d}-of-004" for k in range(1, SHARDS + 1)
    ]
    assert list(plan["done"]) == ["2"]  # the third shard had finished
    assert plan["merged"] is False


async def test_recorded_shard_checkpoints_hold_the_fingerprints_todays_pager_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_recorded("sharded-cursor-jsonl", tmp_path, monkeypatch)
    async with AccuticsClient(token="not-used", base_url=BASE_URL) as offline:
        for number, expected in SHARD_FINGERPRINTS.items():
            saved = read_checkpoint(f"records.jsonl.shard-{number:03d}-of-004")
            assert saved is not None
            assert saved["pager"]["fingerprint"] == expected
            today = await fingerprint_today(
                offline,
                "/stream/records",
                search=SHARD_SEARCHES[number - 1],
                sort="created_at",
                page_size=1,
            )
            assert today == expected


async def test_resuming_a_recorded_sharded_export_gives_the_uninterrupted_export(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "sharded-cursor-jsonl"
    recorded = copy_recorded(name, tmp_path / "resumed", monkeypatch)
    (tmp_path / "clean").mkdir()
    clean = tmp_path / "clean" / "records.jsonl"
    await export_sharded(client, "/stream/records", clean, shards=SHARDS, page_size=1)
    assert_manifest_digest(clean.read_bytes(), MANIFEST[name]["clean"])
    # What each shard had when recorded: shard 3 finished, 1 walked to the end.
    kept = {
        number: orjson.loads(recorded[f"records.jsonl.shard-{number:03d}-of-004.checkpoint.json"])
        for number in SHARD_FINGERPRINTS
    }
    to_fetch = RECORDS - sum(state["records"] for state in kept.values())
    to_fetch -= orjson.loads(recorded["records.jsonl.shards.json"])["done"]["2"]["records"]
    pages_before = server.listing_pages

    result = await export_sharded(
        client, "/stream/records", "records.jsonl", shards=SHARDS, page_size=1, resume=True
    )

    finished = (tmp_path / "resumed" / "records.jsonl").read_bytes()
    assert finished == clean.read_bytes()
    assert finished.startswith(recorded["records.jsonl.shard-001-of-004.part"])
    # Page size 1 and a cursor listing: one listing page per record not yet written.
    assert server.listing_pages - pages_before == to_fetch > 0
    assert result.records == RECORDS
    assert sorted(files_of(Path.cwd())) == ["records.jsonl"]


async def test_a_recorded_shard_plan_refuses_another_query_and_keeps_its_files(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy_recorded("sharded-cursor-jsonl", tmp_path, monkeypatch)
    before = files_of(tmp_path)
    pages_before = server.listing_pages
    with pytest.raises(ExportError, match="belongs to another export") as caught:
        await export_sharded(
            client, "/stream/records", "records.jsonl", shards=SHARDS, page_size=2, resume=True
        )
    assert caught.value.path == "records.jsonl.shards.json"
    assert files_of(tmp_path) == before
    assert server.listing_pages == pages_before


# -- syncs ----------------------------------------------------------------------------

SYNCS = [
    pytest.param("sync-sqlite", "records.sqlite", id="sqlite"),
    pytest.param("sync-log", "records.jsonl", id="change-log"),
]


def recorded_sync_state(into: str) -> dict[str, Any]:
    if into.endswith(".sqlite"):
        with sqlite3.connect(into) as conn:
            (text,) = conn.execute(
                "SELECT state FROM accutics_sync_state WHERE tbl = ?", ("records",)
            ).fetchone()
        conn.close()
        return dict(orjson.loads(text))
    return dict(orjson.loads(Path(f"{into}.sync-state.json").read_bytes()))


@pytest.mark.parametrize(("case", "into"), SYNCS)
def test_a_recorded_sync_state_is_in_the_format_of_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, into: str
) -> None:
    copy_recorded(case, tmp_path, monkeypatch)
    state = recorded_sync_state(into)
    assert (state["kind"], state["version"]) == ("accutics_async.sync", 1)
    assert (state["path"], state["search"], state["key"]) == ("/records", None, "updated_at")
    # Stopped in its first run, after two pages.
    assert (state["walking"], state["runs"]) == (True, 0)
    assert state["watermark"] == "2020-01-08T11:34:25Z"
    assert state["restart"] == 1578483265


@pytest.mark.parametrize(("case", "into"), SYNCS)
async def test_resuming_a_recorded_sync_finishes_it_exactly_once(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    into: str,
) -> None:
    copy_recorded(case, tmp_path / "resumed", monkeypatch)
    (tmp_path / "clean").mkdir()
    clean = tmp_path / "clean" / "records.jsonl"
    await sync(client, "/records", clean, page_size=PAGE)
    assert_manifest_digest(clean.read_bytes(), MANIFEST[case]["clean_log"])
    target = tmp_path / "resumed" / into
    kept_log = target.read_bytes() if into.endswith(".jsonl") else b""

    result = await sync(client, "/records", into, page_size=PAGE)

    assert result.full is False
    assert_in_step(server, target)
    state = recorded_sync_state(into)
    assert (state["walking"], state["runs"]) == (False, 1)
    assert (
        state["watermark"]
        == result.watermark
        == orjson.loads(clean.read_bytes().splitlines()[-1])["updated_at"]
    )
    if into.endswith(".jsonl"):
        # Every version once, in the order of an uninterrupted first sync.
        assert log_versions(target) == clean.read_bytes().splitlines()
        assert kept_log
        assert target.read_bytes().startswith(kept_log)


@pytest.mark.parametrize(("case", "into"), SYNCS)
async def test_a_recorded_sync_state_refuses_another_search_and_keeps_its_files(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    into: str,
) -> None:
    copy_recorded(case, tmp_path, monkeypatch)
    before = files_of(tmp_path)
    pages_before = server.listing_pages
    with pytest.raises(SyncError, match="holds /records with search None") as caught:
        await sync(client, "/records", into, page_size=PAGE, search="input_medium:eq:email")
    assert into in str(caught.value.path)
    # Another key: refused by the state (change log) or by the table's columns (SQLite).
    with pytest.raises(SyncError, match="created_at"):
        await sync(client, "/records", into, page_size=PAGE, key="created_at")
    assert files_of(tmp_path) == before
    assert server.listing_pages == pages_before
