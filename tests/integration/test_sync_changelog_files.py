"""How a change log's files are found and refused when a sync opens them, each with its error."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from sync_support import assert_in_step

from accutics_async import AccuticsClient, SyncError
from accutics_async.sync import sync
from accutics_async.testing import FakeAccuticsServer

N = 12


def state_file(log: Path) -> Path:
    return log.with_name(log.name + ".sync-state.json")


async def synced_log(client: AccuticsClient, tmp_path: Path) -> Path:
    log = tmp_path / "changes.jsonl"
    await sync(client, "/records", log)
    return log


async def test_a_directory_is_not_a_change_log(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    asked = server.stats.total_requests
    with pytest.raises(SyncError) as caught:
        await sync(client, "/records", folder)
    assert str(caught.value) == f"{folder} is a directory, not a change log"
    assert caught.value.path == str(folder)
    assert server.stats.total_requests == asked


async def test_a_state_file_that_is_not_json_is_refused_by_name(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    log = await synced_log(client, tmp_path)
    state_file(log).write_bytes(b"{not json")
    with pytest.raises(SyncError, match=r"is not valid JSON .*; remove it to start over") as caught:
        await sync(client, "/records", log)
    assert caught.value.path == str(state_file(log))
    assert str(caught.value).startswith(f"{state_file(log)} is not valid JSON")


async def test_a_state_file_of_something_else_is_refused_by_name(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    log = await synced_log(client, tmp_path)
    state_file(log).write_bytes(b'{"kind": "other"}')
    with pytest.raises(SyncError) as caught:
        await sync(client, "/records", log)
    assert str(caught.value) == f"{state_file(log)} does not hold accutics sync state"


async def test_a_log_gone_from_under_its_state_is_refused(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    log = await synced_log(client, tmp_path)
    size = log.stat().st_size
    state = state_file(log).read_bytes()
    log.unlink()
    with pytest.raises(SyncError) as caught:
        await sync(client, "/records", log)
    assert str(caught.value) == (
        f"{log} is gone, but {state_file(log)} says it held {size} bytes; remove the state "
        "file to start over"
    )
    assert caught.value.path == str(log)
    assert not log.exists()
    assert state_file(log).read_bytes() == state


async def test_a_log_cut_shorter_than_its_state_is_refused_and_kept(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    log = await synced_log(client, tmp_path)
    size = log.stat().st_size
    kept = log.read_bytes()[:100]
    log.write_bytes(kept)
    with pytest.raises(SyncError) as caught:
        await sync(client, "/records", log)
    assert str(caught.value) == (
        f"{log} is shorter (100 bytes) than its sync state says ({size}); it was changed "
        "outside the sync"
    )
    assert caught.value.path == str(log)
    assert log.read_bytes() == kept


async def test_a_log_another_sync_holds_is_refused(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    fcntl = pytest.importorskip("fcntl")  # no flock on Windows: a second writer goes unseen
    log = await synced_log(client, tmp_path)
    before = log.read_bytes()
    with log.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SyncError) as caught:
            await sync(client, "/records", log)
    assert str(caught.value) == f"another sync is writing {log}"
    assert caught.value.path == str(log)
    assert log.read_bytes() == before


async def test_a_link_planted_at_the_log_is_refused_not_followed(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    log = await synced_log(client, tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    os.replace(log, elsewhere)
    log.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    with pytest.raises(SyncError) as caught:
        await sync(client, "/records", log)
    assert caught.value.path == str(log)
    assert str(log) in str(caught.value)
    assert elsewhere.read_bytes() == before


async def test_a_run_killed_after_its_first_state_file_starts_afresh(
    server: FakeAccuticsServer, client: AccuticsClient, tmp_path: Path
) -> None:
    # A new log gets a placeholder state first, then the log: killed in between.
    log = await synced_log(client, tmp_path)
    placeholder = orjson.loads(state_file(log).read_bytes())
    placeholder.update(path="", search=None, offset=0, runs=0, window={}, horizon=None)
    placeholder.update(watermark=None, restart=None, walking=False)
    log.unlink()
    state_file(log).write_bytes(orjson.dumps(placeholder))
    result = await sync(client, "/records", log)
    assert result.upserted == N
    assert_in_step(server, log)
    assert orjson.loads(state_file(log).read_bytes())["path"] == "/records"
