"""Export promises in the library API: format by suffix, typed items, destinations, shards, files.

Each test here pins one documented promise of ``accutics_async.export`` (see
``docs/export.md``); the CLI side is in ``test_cli_promises``.
"""

from __future__ import annotations

import csv
import enum
import errno
import io
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import orjson
import pytest

from accutics_async import AccuticsClient
from accutics_async.errors import AuthenticationError, NotFoundError, TransportError
from accutics_async.export import (
    ExportError,
    ExportProgress,
    export,
    export_pager,
    export_sharded,
    plan_created_at_shards,
    read_checkpoint,
)
from accutics_async.testing import FakeAccuticsServer
from accutics_async.testing._schema import MEDIUMS

SEED = 7  # with N: the records of the shared ``server`` fixture (conftest)
N = 120
PAGE = 25


def files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- 1. the format follows the suffix ------------------------------------------------------


async def test_format_follows_the_suffix_and_format_overrides_it(
    client: AccuticsClient, tmp_path: Path
) -> None:
    as_csv = await export(client, "/records", tmp_path / "records.csv", page_size=PAGE)
    assert as_csv.format == "csv"
    assert (tmp_path / "records.csv").read_bytes().startswith(b"id,created_at,")
    upper = await export(client, "/records", tmp_path / "UPPER.CSV", page_size=PAGE)
    assert upper.format == "csv"
    as_jsonl = await export(client, "/records", tmp_path / "records.txt", page_size=PAGE)
    assert as_jsonl.format == "jsonl"
    assert (tmp_path / "records.txt").read_bytes().startswith(b'{"id":')
    forced = await export(client, "/records", tmp_path / "x.csv", format="jsonl", page_size=PAGE)
    assert forced.format == "jsonl"
    assert (tmp_path / "x.csv").read_bytes() == (tmp_path / "records.txt").read_bytes()
    pager = client.paginate("/records", page_size=PAGE)
    by_pager = await export_pager(pager, tmp_path / "pager.csv")
    assert by_pager.format == "csv"
    assert (tmp_path / "pager.csv").read_bytes() == (tmp_path / "records.csv").read_bytes()


# -- 2. typed items are written in the API's JSON form --------------------------------------


# The fake server's media, as a user's own Enum.
Medium = enum.Enum("Medium", {name.upper(): name for name in MEDIUMS})  # type: ignore[misc]


@attrs.frozen
class Typed:
    id: UUID
    created_at: datetime
    input_medium: Medium
    input_budget: Decimal
    input_start_date: date | None = None


def _typed_record(value: Any, _: Any) -> Typed:
    start = value.get("input_start_date")
    return Typed(
        id=UUID(value["id"]),
        created_at=datetime.fromisoformat(value["created_at"].replace("Z", "+00:00")),
        input_medium=Medium(value["input_medium"]),
        input_budget=Decimal(str(value["input_budget"])),
        input_start_date=None if start is None else date.fromisoformat(start[:10]),
    )


@pytest.fixture
def typed_hook() -> None:
    from accutics_async._sansio.converter import CONVERTER

    CONVERTER.register_structure_hook(Typed, _typed_record)
    return


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_typed_items_are_written_as_the_api_sends_them(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path, fmt: str, typed_hook: None
) -> None:
    out = tmp_path / f"typed.{fmt}"
    await export_pager(client.paginate("/records", page_size=PAGE, model=Typed), out)
    records = server.all_records()
    if fmt == "jsonl":
        rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode(), newline="")))
    assert len(rows) == N
    for row, record in zip(rows, records, strict=True):
        assert row["id"] == record["id"]  # a plain string, never quoted twice
        assert row["created_at"] == record["created_at"]  # ISO 8601 with Z, not +00:00
        assert row["created_at"].endswith("Z")
        assert row["input_medium"] == record["input_medium"]  # the Enum's value
        assert row["input_budget"] == str(Decimal(str(record["input_budget"])))
        start = record.get("input_start_date")
        expected_start = None if start is None else start[:10]
        if fmt == "csv":
            expected_start = expected_start or ""  # null is the empty cell
        assert row["input_start_date"] == expected_start
    assert b'"""' not in out.read_bytes()
    assert b"+00:00" not in out.read_bytes()


# -- 3. out is a regular file path or "-" ---------------------------------------------------


def _special_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "a-directory"
    folder.mkdir()
    yield "directory", folder
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    yield "fifo", fifo
    yield "device", Path("/dev/null")
    yield "device", Path("/dev/full")
    sock_path = tmp_path / "a-socket"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    yield "socket", sock_path
    link = tmp_path / "link-to-device"
    link.symlink_to("/dev/null")
    yield "device", link


async def test_out_that_is_not_a_regular_file_is_refused_before_any_request(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path
) -> None:
    for kind, target in _special_files(tmp_path):
        before = os.lstat(target)
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda t=target: export(client, "/records", t, page_size=PAGE),
            lambda t=target: export_sharded(client, "/stream/records", t, shards=2),
            lambda t=target: export_pager(client.paginate("/records"), t),
        ]
        for call in calls:
            server.stats.reset()
            with pytest.raises(ExportError, match=kind) as info:
                await call()
            assert str(target) in str(info.value)
            assert server.stats.total_requests == 0
        after = os.lstat(target)
        assert (stat.S_IFMT(after.st_mode), after.st_ino) == (
            stat.S_IFMT(before.st_mode),
            before.st_ino,
        )
    assert not [name for name in files(tmp_path) if name.endswith(".part")]
    assert not [name for name in os.listdir("/dev") if name.startswith("null.")]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


async def test_out_dash_streams_to_stdout_and_is_not_resumable(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    tmp_path: Path,
    capfdbinary: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    clean = tmp_path / "clean.jsonl"
    await export(client, "/stream/records", clean, page_size=PAGE)
    capfdbinary.readouterr()
    result = await export(client, "/stream/records", "-", page_size=PAGE)
    streamed = capfdbinary.readouterr().out
    assert streamed == clean.read_bytes()
    assert result.records == N
    assert result.bytes == len(streamed)
    assert files(tmp_path) == ["clean.jsonl"]
    assert "-" not in files(tmp_path)
    server.stats.reset()
    with pytest.raises(ExportError, match="not resumable"):
        await export(client, "/stream/records", "-", resume=True)
    with pytest.raises(ExportError, match="standard output"):
        await export_sharded(client, "/stream/records", "-", shards=2)
    assert server.stats.total_requests == 0


# -- 4. a sharded export never comes out in a different order -----------------------------


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "created_at,id", None])
async def test_sharded_export_in_a_mergeable_order_equals_the_unsharded(
    client: AccuticsClient, tmp_path: Path, sort: str | None
) -> None:
    clean, out = tmp_path / "clean.jsonl", tmp_path / "sharded.jsonl"
    await export(client, "/stream/records", clean, sort=sort or "created_at", page_size=PAGE)
    await export_sharded(client, "/stream/records", out, shards=4, sort=sort, page_size=PAGE)
    assert out.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("sort", ["input_medium", "-updated_at", "id,created_at"])
async def test_a_sort_that_shards_cannot_keep_is_refused_before_any_request(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path, sort: str
) -> None:
    out = tmp_path / "sharded.jsonl"
    server.stats.reset()
    with pytest.raises(ExportError, match="created_at") as info:
        await export_sharded(client, "/stream/records", out, shards=4, sort=sort)
    assert sort.split(",")[0] in str(info.value)
    with pytest.raises(ExportError):
        await plan_created_at_shards(client, "/stream/records", 4, out=out, sort=sort)
    assert server.stats.total_requests == 0
    assert files(tmp_path) == []


# -- 6. a failure before the first commit leaves no files -----------------------------------


async def test_a_failure_on_the_first_request_leaves_no_files(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    async with AccuticsClient(token="wrong", base_url=server.base_url) as bad:
        with pytest.raises(AuthenticationError):
            await export(bad, "/records", out)
        with pytest.raises(AuthenticationError):
            await export_sharded(bad, "/stream/records", out, shards=3)
    async with AccuticsClient(token=server.token, base_url=server.base_url) as good:
        with pytest.raises(NotFoundError):
            await export(good, "/records/nope", out)
    assert files(tmp_path) == []


async def test_a_server_that_never_answers_leaves_no_files(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    try:
        async with AccuticsClient(token="t", base_url=url, timeout=0.2, retry=None) as client:
            with pytest.raises(TransportError):
                await export(client, "/records", tmp_path / "out.csv")
    finally:
        silent.close()
    assert files(tmp_path) == []


async def test_a_failure_after_the_first_commit_keeps_the_files_for_resume(
    client: AccuticsClient, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"

    def crash(progress: ExportProgress) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        await export(client, "/records", out, page_size=PAGE, progress=crash)
    assert files(tmp_path) == ["out.jsonl.checkpoint.json", "out.jsonl.part"]


@pytest.mark.parametrize("endpoint", ["/records", "/stream/records"])
async def test_a_stop_between_a_page_s_append_and_its_bookkeeping_resumes_exactly(
    client: AccuticsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    # A failure right after a page is appended (a KeyboardInterrupt on 3.10,
    # where asyncio.run does not turn SIGINT into a cancellation; a
    # MemoryError) must leave a checkpoint whose position and byte length
    # belong together. On 6a652a7 the stop's checkpoint named that page's
    # bytes with the position before it, and the resume wrote the page twice.
    from accutics_async.export import _single

    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    await export(client, endpoint, clean, page_size=PAGE)
    real = _single._after_page
    pages = [0]

    def stop_at_the_third(*args: Any) -> Any:
        pages[0] += 1
        if pages[0] == 3:
            raise RuntimeError("stopped between the append and its bookkeeping")
        return real(*args)

    monkeypatch.setattr(_single, "_after_page", stop_at_the_third)
    with pytest.raises(RuntimeError, match="bookkeeping"):
        await export(client, endpoint, out, page_size=PAGE)
    saved = read_checkpoint(out)
    assert saved is not None
    assert saved["records"] == 2 * PAGE
    monkeypatch.setattr(_single, "_after_page", real)
    await export(client, endpoint, out, page_size=PAGE, resume=True)
    assert out.read_bytes() == clean.read_bytes()


class Killed(Exception):
    """Stands in for the process dying at a given point (kill -9)."""


def killed_after(pages: int) -> Callable[[ExportProgress], None]:
    def progress(done: ExportProgress) -> None:
        if done.pages >= pages:
            raise Killed

    return progress


@pytest.mark.parametrize("max_items", [None, 60])
@pytest.mark.parametrize("endpoint", ["/records", "/stream/records"])
async def test_a_kill_between_the_final_rename_and_the_checkpoint_s_removal_resumes(
    client: AccuticsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    max_items: int | None,
) -> None:
    # The rename is the export's last word, and the checkpoint goes after it:
    # killed in between, the checkpoint must say "done" so that a resume only
    # finishes. On 9979521 it was the last periodic commit, and the resume
    # raised "out.jsonl.part is missing but its checkpoint expects it".
    from accutics_async.export import _files

    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    await export(client, endpoint, clean, page_size=PAGE, max_items=max_items)
    with pytest.raises(Killed):
        await export(client, endpoint, out, page_size=PAGE, progress=killed_after(1))

    def kill(path: str) -> None:
        raise Killed  # right after the rename

    monkeypatch.setattr(_files, "fsync_dir", kill)
    with pytest.raises(Killed):
        await export(
            client,
            endpoint,
            out,
            page_size=PAGE,
            max_items=max_items,
            resume=True,
            checkpoint_every=3600,
        )
    monkeypatch.undo()
    assert out.read_bytes() == clean.read_bytes()
    result = await export(client, endpoint, out, page_size=PAGE, max_items=max_items, resume=True)
    assert result.records == (max_items or N)
    assert out.read_bytes() == clean.read_bytes()
    assert files(tmp_path) == ["clean.jsonl", "out.jsonl"]


@pytest.mark.parametrize(
    ("max_items", "max_pages", "killed_at"),
    [(60, None, 2), (None, 3, 2), (50, None, 2), (None, 2, 2)],
    ids=["items", "pages", "items-reached", "pages-reached"],
)
@pytest.mark.parametrize("endpoint", ["/records", "/stream/records"])
async def test_a_resumed_export_keeps_its_max_items_and_max_pages(
    client: AccuticsClient,
    tmp_path: Path,
    endpoint: str,
    max_items: int | None,
    max_pages: int | None,
    killed_at: int,
) -> None:
    # The limits bound the whole export, not each run: on 9979521 a resume
    # wrote max_items (or max_pages) more on top of what the first run had.
    # "reached": the first run wrote every record wanted and was killed
    # before it could finish.
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    limits: dict[str, Any] = {"page_size": PAGE, "max_items": max_items, "max_pages": max_pages}
    expected = await export(client, endpoint, clean, **limits)
    with pytest.raises(Killed):
        await export(client, endpoint, out, progress=killed_after(killed_at), **limits)
    result = await export(client, endpoint, out, resume=True, **limits)
    assert (result.records, result.pages) == (expected.records, expected.pages)
    assert out.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("endpoint", ["/records", "/stream/records"])
async def test_an_export_asking_for_pages_over_the_server_s_maximum_resumes(
    client: AccuticsClient, server: FakeAccuticsServer, tmp_path: Path, endpoint: str
) -> None:
    # The server serves its maximum instead (API_BASICS.md). On 9979521 the
    # resume with the very same arguments was refused: "belongs to another export".
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    asked = server.max_page_size * 5
    await export(client, endpoint, clean, page_size=asked)
    with pytest.raises(Killed):
        await export(client, endpoint, out, page_size=asked, progress=killed_after(1))
    await export(client, endpoint, out, page_size=asked, resume=True)
    assert out.read_bytes() == clean.read_bytes()


# -- 7. OS errors name the path; a failed checkpoint write keeps the last good one -------


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Files whose name ends in an armed suffix are opened on /dev/full: writes fail ENOSPC.

    The file itself is still created (as a full disk leaves it), so the test
    sees whether the export cleans up after itself.
    """
    armed: dict[str, int] = {}
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        fd = real_open(path, flags, mode, **kw)
        name = os.fspath(path)
        for suffix, skip in list(armed.items()):
            if isinstance(name, str) and name.endswith(suffix):
                if skip > 0:
                    armed[suffix] = skip - 1
                    continue
                full = real_open("/dev/full", os.O_WRONLY)
                os.dup2(full, fd)
                os.close(full)
        return fd

    monkeypatch.setattr(os, "open", fake_open)
    return armed


async def test_disk_full_on_the_partial_file_names_the_path(
    client: AccuticsClient, tmp_path: Path, disk_full: dict[str, int]
) -> None:
    out = tmp_path / "out.jsonl"
    disk_full[".part"] = 0
    with pytest.raises(ExportError) as info:
        await export(client, "/records", out, page_size=PAGE, checkpoint_every=0)
    assert f"{out}.part" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert getattr(info.value, "path", None) == f"{out}.part"
    assert not [name for name in files(tmp_path) if name.endswith(".tmp")]


async def test_a_failed_checkpoint_write_keeps_the_last_good_checkpoint(
    client: AccuticsClient, tmp_path: Path, disk_full: dict[str, int]
) -> None:
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    await export(client, "/stream/records", clean, page_size=PAGE)
    disk_full[".checkpoint.json.tmp"] = 2  # the first two commits succeed
    with pytest.raises(ExportError) as info:
        await export(client, "/stream/records", out, page_size=PAGE, checkpoint_every=0)
    checkpoint = f"{out}.checkpoint.json"
    assert checkpoint in str(info.value)
    assert "No space left" in str(info.value)
    assert not [name for name in files(tmp_path) if name.endswith(".tmp")]
    saved = read_checkpoint(out)
    assert saved is not None
    assert saved["records"] == 2 * PAGE  # the last good one, not a half-written one
    disk_full.clear()
    await export(client, "/stream/records", out, page_size=PAGE, resume=True)
    assert out.read_bytes() == clean.read_bytes()
    assert files(tmp_path) == ["clean.jsonl", "out.jsonl"]


async def test_a_failed_checkpoint_rename_leaves_no_temporary_file(
    client: AccuticsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        if os.fspath(dst).endswith(".checkpoint.json"):
            calls["n"] += 1
            if calls["n"] > 1:
                raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ExportError, match=r"checkpoint\.json"):
        await export(client, "/stream/records", out, page_size=PAGE, checkpoint_every=0)
    assert not [name for name in files(tmp_path) if name.endswith(".tmp")]
    saved = read_checkpoint(out)
    assert saved is not None
    assert saved["records"] == PAGE


async def test_a_missing_directory_is_named(client: AccuticsClient, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    with pytest.raises(ExportError, match=str(out.parent)):
        await export(client, "/records", out)
