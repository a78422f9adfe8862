"""``accutics sync`` run as a user runs it: a subprocess against a fake server on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sync_support import assert_in_step, log_versions, table_rows

from accutics_async.testing import FakeAccuticsServer, FakeClock


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=120, seed=7, max_page_size=10, clock=FakeClock()) as s:
        yield s


async def accutics(
    server: FakeAccuticsServer, *argv: str, on_page: tuple[int, signal.Signals] | None = None
) -> tuple[int, str]:
    """Run ``accutics ARGV``; ``on_page=(n, sig)`` sends ``sig`` once the n-th page is built."""
    env = {**os.environ, "ACCUTICS_TOKEN": server.token, "ACCUTICS_BASE_URL": server.base_url}
    env.pop("ACCUTICS_DEBUG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "accutics_async",
        *argv,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    if on_page is not None:
        count, sig = on_page
        server.after_pages(count, lambda: proc.send_signal(sig))
    _, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


@pytest.mark.parametrize(
    ("endpoint", "sink"), [("/records", "copy.sqlite"), ("/stream/records", "changes.jsonl")]
)
async def test_kill_9_mid_run_then_the_same_command_finishes(
    server: FakeAccuticsServer, tmp_path: Path, endpoint: str, sink: str
) -> None:
    into = tmp_path / sink
    argv = ("sync", endpoint, "--into", str(into), "--no-progress")
    code, _ = await accutics(server, *argv, on_page=(4, signal.SIGKILL))
    assert code == -signal.SIGKILL
    # Pages before the kill are committed (each page is requested after the last one's commit).
    kept = len(table_rows(into)) if sink.endswith(".sqlite") else len(log_versions(into))
    assert 0 < kept < 120
    server.create_record()
    server.update_record(server.all_records()[0]["id"], {"input_content": "after the kill"})
    code, err = await accutics(server, *argv)
    assert code == 0, err
    assert "changed" in err
    assert_in_step(server, into)


async def test_ctrl_c_exits_130_and_the_next_run_finishes(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    into = tmp_path / "copy.sqlite"
    argv = ("sync", "/records", "--into", str(into))
    code, err = await accutics(server, *argv, "--no-progress", on_page=(3, signal.SIGINT))
    assert code == 130
    assert "run the same command again" in err
    assert "Traceback" not in err
    code, err = await accutics(server, *argv, "--progress")
    assert code == 0, err
    assert "syncing /records" in err  # the progress bar, forced on although stderr is a pipe
    assert_in_step(server, into)


async def test_full_drops_deleted_rows_and_bad_arguments_exit_2(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    into = tmp_path / "copy.sqlite"
    code, err = await accutics(server, "sync", "/records", "--into", str(into), "--no-progress")
    assert code == 0, err
    for record in server.all_records()[:5]:
        server.delete_record(record["id"])
    code, err = await accutics(server, "sync", "/records", "--into", str(into), "--full")
    assert code == 0, err
    assert "5 deleted" in err
    assert_in_step(server, into)
    log = tmp_path / "changes.jsonl"
    for path, bad, flag in (
        ("/records", ["--into", str(tmp_path / "copy.csv")], "--into"),
        ("/records", ["--into", str(into), "--lookback", "-5"], "--lookback"),
        # On 9979521 these exited 1, or 2 with the message of the Python API
        # ("pass table='name'", "table= applies to SQLite databases").
        ("/records", ["--into", str(into), "--key", "x y"], "--key"),
        ("/records", ["--into", str(into), "--key", "id"], "--key"),
        ("/records", ["--into", str(into), "--search", "input_medium:bogus:x"], "--search"),
        ("/records", ["--into", str(into), "--table", "bad-name"], "--table"),
        ("/records", ["--into", str(into), "--table", "sqlite_master"], "--table"),
        ("/records", ["--into", str(log), "--table", "t"], "--table"),
        ("/v1/records-2024/", ["--into", str(into)], "--table"),
        ("/v1/record", ["--into", str(into)], "is reserved"),
        ("/stream/records?sort=id", ["--into", str(into)], "PATH"),
        ("/records?page_size=5", ["--into", str(into), "--page-size", "9"], "--page-size"),
    ):
        code, err = await accutics(server, "sync", path, "--no-progress", *bad)
        assert code == 2, err
        assert flag in err
        assert "table=" not in err  # flags, not Python arguments
        assert "key=" not in err
        assert len(err.strip().splitlines()) == 1
    assert not log.exists()
