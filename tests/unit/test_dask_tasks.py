"""The Dask pieces that need no cluster: the worker's token, shard files, locks, error mapping."""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from distributed import KilledWorker

from accutics_async import ConfigurationError
from accutics_async.errors import APIError, ExportError
from accutics_async.export import ShardSpec, export_on_dask
from accutics_async.export._dask import _progress_handler, _translate
from accutics_async.export._dask_tasks import (
    TOKEN_FILE_ENV,
    finished_shard,
    wait_until_unlocked,
    worker_token,
)

SECRET = "tok-" + "s3cr3t" * 4


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCUTICS_TOKEN", raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)


def test_the_environment_token_is_left_to_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCUTICS_TOKEN", SECRET)
    monkeypatch.setenv(TOKEN_FILE_ENV, "/nonexistent")  # not read: the variable wins
    assert worker_token() is None


def test_a_token_file_is_read(
    no_token: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(f"  {SECRET}\n", encoding="utf-8")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(path))
    assert worker_token() == SECRET


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no API token on this Dask worker"),
        (b"", "is empty"),
        (b"\xff" + SECRET.encode(), "is not UTF-8"),
        ("missing", "cannot read"),
    ],
)
def test_no_usable_token_is_a_configuration_error_quoting_nothing(
    no_token: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: bytes | str | None,
    says: str,
) -> None:
    path = tmp_path / "token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    if content is not None:
        monkeypatch.setenv(TOKEN_FILE_ENV, str(path))
    with pytest.raises(ConfigurationError, match=says) as caught:
        worker_token()
    assert SECRET not in str(caught.value)


def test_waiting_for_the_lock_of_another_run(tmp_path: Path) -> None:
    part = tmp_path / "x.part"
    assert wait_until_unlocked(str(part), timeout=0)  # no file, nothing to wait for
    part.write_bytes(b"")
    with open(part, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        assert not wait_until_unlocked(str(part), timeout=0)
        fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
        assert wait_until_unlocked(str(part), timeout=0)


@pytest.mark.parametrize(
    ("fmt", "data", "records"),
    [
        ("jsonl", b'{"id":"1"}\n{"id":"2"}\n', 2),
        ("jsonl", b"", 0),
        ("csv", b'id,name\r\n1,"two\r\nlines"\r\n2,x\r\n', 2),
        ("csv", b"", 0),
        # A field over csv.reader's 128 KiB limit (the merge has none either).
        ("csv", b'id,tags\r\n1,"' + b"x" * 200_000 + b'"\r\n2,y\r\n', 2),
    ],
)
def test_a_finished_shard_is_counted_not_exported_again(
    tmp_path: Path, fmt: str, data: bytes, records: int
) -> None:
    out = tmp_path / "out.shard-001-of-002"
    spec = ShardSpec(path="/records", out=str(out), format=fmt)
    assert finished_shard(spec) is None  # not written yet
    out.write_bytes(data)
    Path(f"{out}.part").write_bytes(b"")
    assert finished_shard(spec) is None  # a run of it is under way
    os.remove(f"{out}.part")
    done = finished_shard(spec)
    assert done is not None
    assert done["records"] == done["resumed_records"] == records
    assert done["bytes"] == len(data)


def test_task_failures_become_our_errors() -> None:
    api = APIError("no", status=403)
    assert _translate(api, "shard 1 of 2") is api
    killed = _translate(KilledWorker("k", None, 3), "shard 1 of 2")  # type: ignore[arg-type]
    assert isinstance(killed, ExportError)
    assert "shard 1 of 2" in str(killed)
    assert "4 times" in str(killed)
    cancelled = _translate(asyncio.CancelledError(), "shard 2 of 2")
    assert isinstance(cancelled, ExportError)
    other = _translate(ZeroDivisionError("boom"), "shard 2 of 2")
    assert isinstance(other, ExportError)
    assert "ZeroDivisionError: boom" in str(other)


async def test_progress_events_that_are_not_ours_are_ignored() -> None:
    class Tally:
        def __init__(self) -> None:
            self.seen: list[tuple[int, Any]] = []

        def shard(self, index: int) -> Any:
            return lambda progress: self.seen.append((index, progress))

    tally = Tally()
    handler = _progress_handler(asyncio.get_running_loop(), tally, 0.0)  # type: ignore[arg-type]
    good = {"shard": 1, "records": 5, "pages": 1, "total_items": None, "resumed_records": 0}
    for event in [(1.0, "text"), (1.0, {"shard": 1}), "junk", (1.0, good)]:
        handler(event)
    await asyncio.sleep(0)  # handed over with call_soon_threadsafe
    assert [(index, p.records) for index, p in tally.seen] == [(1, 5)]


async def test_an_asynchronous_dask_client_is_refused(tmp_path: Path) -> None:
    class AsyncClient:
        asynchronous = True

    with pytest.raises(ConfigurationError, match="synchronous"):
        await export_on_dask(AsyncClient(), "/records", tmp_path / "x.jsonl")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


class UntouchedDaskClient:
    """A synchronous client no check may get as far as using."""

    asynchronous = False

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the Dask client was used ({name}) before the checks")


@pytest.mark.parametrize("kind", ["stdout", "directory", "fifo", "missing directory"])
async def test_an_out_no_file_can_go_to_is_refused_before_any_task(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = {
        "stdout": "-",
        "directory": str(tmp_path),
        "fifo": str(tmp_path / "fifo.jsonl"),
        "missing directory": str(tmp_path / "nowhere" / "x.jsonl"),
    }[kind]
    if kind == "fifo":
        os.mkfifo(out)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ExportError):
        await export_on_dask(UntouchedDaskClient(), "/records", out, shards=2)  # type: ignore[arg-type]
    assert sorted(os.listdir(tmp_path)) == before
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(out).st_mode)  # left as it was
