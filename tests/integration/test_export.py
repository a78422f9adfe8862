"""Exports through the fake server: round trips, resume after crashes, faults, sharding."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from accutics_async import AccuticsClient, RetryPolicy
from accutics_async.export import (
    CheckpointExistsError,
    ExportError,
    ExportProgress,
    ShardSpec,
    discard_export,
    export,
    export_pager,
    export_shard,
    export_sharded,
    merge_shards,
    plan_created_at_shards,
    read_checkpoint,
)
from accutics_async.testing import FakeAccuticsServer

# tests/conftest.py's fixture: fake_advice(fadvise, window).
FakeAdvice = Callable[[Callable[..., None], int], None]

SEED = 3  # with N: the records of the shared ``server`` fixture (conftest)
N = 437  # not a multiple of the page sizes used
PAGE = 40
STYLES = ["/records", "/stream/records"]  # the fake server's page-number and cursor endpoints


class Crash(Exception):
    """Stands in for the process dying after a page was saved."""


def ids_of(path: Path) -> list[str]:
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
        return [row["id"] for row in rows]
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()]


def crash_after(pages: int) -> Any:
    def progress(p: ExportProgress) -> None:
        if p.pages - (p.resumed_records // PAGE) >= pages:
            raise Crash

    return progress


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def exists(path: str) -> bool:
    return os.path.exists(path)


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(n for n in os.listdir(tmp_path) if not n.startswith("clean"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("endpoint", STYLES)
async def test_round_trip_every_record_once_in_order(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path, endpoint: str, fmt: str
) -> None:
    out = tmp_path / f"out.{fmt}"
    seen: list[ExportProgress] = []
    result = await export(
        client, endpoint, out, format=fmt, page_size=PAGE, concurrency=4, progress=seen.append
    )
    expected = [r["id"] for r in server.all_records()]
    assert ids_of(out) == expected
    assert result.records == N
    assert result.pages == len(seen) == -(-N // PAGE)
    assert result.bytes == out.stat().st_size
    assert [p.records for p in seen][-1] == N
    assert seen[-1].total_items == (N if endpoint == "/records" else None)
    assert os.listdir(tmp_path) == [out.name]  # no partial file, no checkpoint
    if fmt == "jsonl":
        assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == server.all_records()


@pytest.mark.usefixtures("advice_done_at_once")
async def test_export_hands_written_pages_back_to_the_kernel_off_the_loop(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    fake_advice: FakeAdvice,
) -> None:
    # The advice submits writeback, which can block on the disk: it runs in
    # a thread of its own, never on the event loop's.
    loop_thread = threading.get_ident()
    advised: list[tuple[int, int, int]] = []

    def fadvise(fd: int, start: int, length: int, advice: int) -> None:
        advised.append((threading.get_ident(), start, start + length))

    fake_advice(fadvise, 16 * 1024)
    out = tmp_path / "out.jsonl"
    await export(client, "/records", out, page_size=PAGE, concurrency=2)
    assert ids_of(out) == [r["id"] for r in server.all_records()]
    assert len(advised) >= 3
    assert all(thread != loop_thread for thread, _, _ in advised)
    ends = [end for _, _, end in advised]
    assert ends == sorted(ends)
    assert ends[-1] <= out.stat().st_size
    assert [start for _, start, _ in advised[2:]] == ends[:-2]


async def test_export_goes_on_writing_while_an_advice_is_held_up(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    fake_advice: FakeAdvice,
) -> None:
    # An advice can wait on the disk for milliseconds; the export writes on
    # meanwhile. The first advice is held until two more pages are written:
    # on 1530bba the export waited for it, so no page came and it timed out.
    release = threading.Event()
    written = [0]  # pages written, as progress last said
    began: list[int] = []  # pages written when each advice began
    released: list[bool] = []
    held_starts: list[int] = []

    def fadvise(fd: int, start: int, length: int, advice: int) -> None:
        began.append(written[0])
        released.append(release.wait(timeout=10))

    def progress(p: ExportProgress) -> None:
        written[0] = p.pages
        if began and not release.is_set() and p.pages >= began[0] + 2:
            held_starts.append(len(began))
            release.set()

    fake_advice(fadvise, 16 * 1024)
    out = tmp_path / "out.jsonl"
    result = await export(client, "/records", out, page_size=PAGE, progress=progress)
    assert ids_of(out) == [r["id"] for r in server.all_records()]
    assert result.records == N
    assert released
    assert all(released)
    assert held_starts == [1]  # no second advice while the first was held


async def test_jsonl_is_the_same_for_both_styles_and_any_concurrency(
    client: AccuticsClient, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    await export(client, "/records", a, page_size=PAGE, concurrency=5)
    await export(client, "/stream/records", b, page_size=33)
    assert a.read_bytes() == b.read_bytes()


async def test_csv_with_commas_quotes_newlines_and_non_ascii(
    client: AccuticsClient, tmp_path: Path
) -> None:
    nasty = ['Sale, "50%" off', "two\nlines", "crlf\r\nand, comma", "Ærø — 日本 🎉", '"']
    for name in nasty:
        body = {
            "input_campaign_name": name,
            "input_medium": "email",
            "input_source": "newsletter",
            "input_content": name,
        }
        await client.post("/records", json=body)
    out = tmp_path / "out.csv"
    await export(client, "/stream/records", out, format="csv", page_size=PAGE)
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    assert len(rows) == N + len(nasty)
    assert [row["input_campaign_name"] for row in rows[-len(nasty) :]] == nasty
    assert [row["input_content"] for row in rows[-len(nasty) :]] == nasty
    # Lists and objects are JSON text, booleans/numbers JSON, nulls empty.
    assert orjson.loads(rows[0]["author"])["name"]
    assert isinstance(orjson.loads(rows[0]["input_tags"]), list)
    int(rows[0]["input_budget"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("endpoint", STYLES)
async def test_resume_after_a_crash_gives_the_clean_export(
    client: AccuticsClient, tmp_path: Path, endpoint: str, fmt: str
) -> None:
    clean, out = tmp_path / f"clean.{fmt}", tmp_path / f"out.{fmt}"
    await export(client, endpoint, clean, format=fmt, page_size=PAGE, concurrency=3)
    kw: dict[str, Any] = {"format": fmt, "page_size": PAGE, "concurrency": 3}
    with pytest.raises(Crash):
        await export(client, endpoint, out, progress=crash_after(3), **kw)
    saved = read_checkpoint(out)
    assert saved is not None
    assert saved["records"] == 3 * PAGE
    assert leftovers(tmp_path) == [f"out.{fmt}.checkpoint.json", f"out.{fmt}.part"]
    # Without resume the checkpoint is not silently overwritten.
    with pytest.raises(CheckpointExistsError):
        await export(client, endpoint, out, **kw)
    # A page written after the last checkpoint (killed between the two writes).
    append(Path(f"{out}.part"), b'{"id": "half a page')
    with pytest.raises(Crash):
        await export(client, endpoint, out, resume=True, progress=crash_after(2), **kw)
    result = await export(client, endpoint, out, resume=True, **kw)
    assert out.read_bytes() == clean.read_bytes()
    assert result.records == N
    assert result.resumed_records == 5 * PAGE
    assert leftovers(tmp_path) == [f"out.{fmt}"]


async def test_cancelling_the_task_saves_a_checkpoint(
    client: AccuticsClient, tmp_path: Path
) -> None:
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    await export(client, "/stream/records", clean, page_size=PAGE)
    started = asyncio.Event()

    def progress(p: ExportProgress) -> None:
        if p.pages == 2:
            started.set()

    task = asyncio.ensure_future(
        export(client, "/stream/records", out, page_size=PAGE, progress=progress)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = read_checkpoint(out)
    assert saved is not None
    assert saved["records"] >= 2 * PAGE
    await export(client, "/stream/records", out, page_size=PAGE, resume=True)
    assert out.read_bytes() == clean.read_bytes()


async def test_resume_without_a_checkpoint_starts_fresh(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = await export(client, "/records", out, resume=True, page_size=100)
    assert result.records == N
    assert result.resumed_records == 0
    assert ids_of(out) == [r["id"] for r in server.all_records()]


async def test_a_checkpoint_for_another_query_or_format_is_refused(
    client: AccuticsClient, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(1))
    with pytest.raises(ExportError, match="another export"):
        await export(client, "/records", out, page_size=50, resume=True)
    with pytest.raises(ExportError, match="jsonl export"):
        await export(client, "/records", out, page_size=PAGE, format="csv", resume=True)
    pager = client.paginate("/records", page_size=PAGE)  # not built from the checkpoint
    with pytest.raises(ExportError, match="does not continue"):
        await export_pager(pager, out, resume=True)
    discard_export(out)
    assert os.listdir(tmp_path) == []


async def test_export_pager_resumes_a_pager_built_from_the_checkpoint(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(Crash):
        await export_pager(
            client.paginate("/records", page_size=PAGE), out, progress=crash_after(2)
        )
    saved = read_checkpoint(out)
    assert saved is not None
    pager = client.paginate("/records", page_size=PAGE, resume=saved["pager"])
    result = await export_pager(pager, out, resume=True)
    assert result.records == N
    assert ids_of(out) == [r["id"] for r in server.all_records()]


async def test_a_crash_after_the_final_rename_finishes_on_resume(
    client: AccuticsClient, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"

    def crash_at_the_end(p: ExportProgress) -> None:
        if p.records == N:
            raise Crash

    with pytest.raises(Crash):
        await export(client, "/stream/records", out, progress=crash_at_the_end)
    os.replace(f"{out}.part", out)  # the rename happened, the checkpoint removal did not
    result = await export(client, "/stream/records", out, resume=True)
    assert result.records == N
    assert not exists(f"{out}.checkpoint.json")


FAULTS = "500=0.06,502=0.04,503=0.04,429=0.04,reset=0.04,truncate=0.04,html=0.02,retry_after=0.01"


@pytest.mark.parametrize("endpoint", STYLES)
async def test_faults_change_nothing_in_the_output(
    server: FakeAccuticsServer, tmp_path: Path, endpoint: str
) -> None:
    retry = RetryPolicy(max_attempts=10, backoff=0.001, max_backoff=0.05)
    async with AccuticsClient(token=server.token, base_url=server.base_url, retry=retry) as c:
        clean = tmp_path / "clean.jsonl"
        await export(c, endpoint, clean, page_size=PAGE)
        server.faults = FAULTS
        faulty = tmp_path / "faulty.jsonl"
        await export(c, endpoint, faulty, page_size=PAGE, concurrency=4)
        assert sum(v for k, v in c.stats.items() if k.startswith("retries.")) > 0
    assert faulty.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("endpoint", STYLES)
async def test_sharded_export_equals_unsharded(
    client: AccuticsClient, tmp_path: Path, endpoint: str, fmt: str
) -> None:
    plain, sharded = tmp_path / f"plain.{fmt}", tmp_path / f"sharded.{fmt}"
    await export(client, endpoint, plain, format=fmt, page_size=PAGE, sort="created_at")
    seen: list[ExportProgress] = []
    result = await export_sharded(
        client, endpoint, sharded, shards=5, format=fmt, page_size=PAGE, progress=seen.append
    )
    assert sharded.read_bytes() == plain.read_bytes()
    assert result.records == N == seen[-1].records
    assert sorted(os.listdir(tmp_path)) == sorted([plain.name, sharded.name])


async def test_sharded_export_keeps_a_descending_order_and_a_search(
    client: AccuticsClient, tmp_path: Path
) -> None:
    plain, sharded = tmp_path / "plain.jsonl", tmp_path / "sharded.jsonl"
    search = "input_medium:eq:email,social"
    await export(client, "/stream/records", plain, search=search, sort="-created_at")
    await export_sharded(
        client, "/stream/records", sharded, shards=3, search=search, sort="-created_at"
    )
    assert 0 < len(ids_of(plain)) < N
    assert sharded.read_bytes() == plain.read_bytes()


async def test_shard_plans_cover_every_record_exactly_once(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path
) -> None:
    specs = await plan_created_at_shards(client, "/stream/records", 7, out=tmp_path / "x")
    assert [s.index for s in specs] == list(range(7))
    assert {s.count for s in specs} == {7}
    assert ":gte:" not in (specs[0].search or "")  # open below
    assert ":lt:" not in (specs[-1].search or "")  # open above
    found: list[str] = []
    for spec in specs:
        result = await export_shard(client, ShardSpec.from_dict(spec.to_dict()))
        assert result.out == spec.out
        found += ids_of(Path(spec.out))
    assert found == [r["id"] for r in server.all_records()]
    merged = tmp_path / "x"
    size = merge_shards(list(reversed(specs)), merged)  # merged in index order anyway
    assert ids_of(merged) == found
    assert size == merged.stat().st_size
    assert os.listdir(tmp_path) == ["x"]
    none = await plan_created_at_shards(
        client, "/records", 4, out=tmp_path / "y", search="input_medium:eq:nothing-matches"
    )
    assert len(none) == 1


async def test_sharded_export_resumes_after_a_failed_shard(
    client: AccuticsClient, tmp_path: Path
) -> None:
    plain, out = tmp_path / "plain.csv", tmp_path / "out.csv"
    await export(client, "/stream/records", plain, format="csv", page_size=PAGE)

    def progress(p: ExportProgress) -> None:
        if p.pages == 5:
            raise Crash

    with pytest.raises(Crash):
        await export_sharded(
            client,
            "/stream/records",
            out,
            shards=3,
            format="csv",
            page_size=PAGE,
            progress=progress,
        )
    assert exists(f"{out}.shards.json")
    with pytest.raises(CheckpointExistsError):
        await export_sharded(client, "/stream/records", out, shards=3, format="csv")
    with pytest.raises(CheckpointExistsError):  # nor an unsharded export into it
        await export(client, "/stream/records", out, format="csv")
    with pytest.raises(ExportError, match="another export"):
        await export_sharded(client, "/stream/records", out, format="csv", resume=True)
    # Resuming reuses the saved plan, even if asked for another shard count.
    result = await export_sharded(
        client, "/stream/records", out, shards=2, format="csv", page_size=PAGE, resume=True
    )
    assert out.read_bytes() == plain.read_bytes()
    assert result.records == N
    assert result.resumed_records > 0
    assert sorted(os.listdir(tmp_path)) == ["out.csv", "plain.csv"]


async def test_model_pagers_export_what_the_api_sent(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path
) -> None:
    from accutics_async import Record

    out = tmp_path / "out.jsonl"
    result = await export_pager(client.paginate("/records", model=Record), out)
    assert result.records == N
    assert ids_of(out) == [r["id"] for r in server.all_records()]
    # The same records as the API sent them: flat input_*/output_* fields,
    # Zulu timestamps, nothing added or dropped.
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert written == server.all_records()


async def test_a_checkpoint_without_its_partial_file_is_refused(
    client: AccuticsClient, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(Crash):
        await export(client, "/records", out, page_size=PAGE, progress=crash_after(1))
    os.remove(f"{out}.part")
    with pytest.raises(ExportError, match="missing"):
        await export(client, "/records", out, page_size=PAGE, resume=True)


async def test_merge_shards_refuses_unfinished_or_mixed_shards(
    client: AccuticsClient, tmp_path: Path
) -> None:
    specs = await plan_created_at_shards(client, "/records", 2, out=tmp_path / "x")
    with pytest.raises(ExportError, match="not finished"):
        merge_shards(specs, tmp_path / "x")
    mixed = [specs[0], ShardSpec.from_dict({**specs[1].to_dict(), "format": "csv"})]
    with pytest.raises(ExportError, match="different formats"):
        merge_shards(mixed, tmp_path / "x")
