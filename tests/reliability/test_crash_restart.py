"""The API server dies mid-export (SIGKILL) and comes back on the same port.

Either the export rides through on retries, or it stops with a typed error
and a checkpoint from which ``accutics export --resume`` finishes with every
record exactly once, in order. The server runs as ``accutics fake-server``
in a subprocess, so the kill is a real process death: connections reset,
then refused, then a new process on the same port.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from reliability_support import CLI, Capture, cli_env, free_port, jsonl_ids, report

from accutics_async import AccuticsClient, RetryPolicy, TransportError
from accutics_async.errors import TRANSPORT_ERROR_KINDS
from accutics_async.export import ExportProgress, export, read_checkpoint
from accutics_async.testing import FakeAccuticsServer

RECORDS = 20_000
SEED = 12
KILL_AT_PAGE = 40


class ServerProcess:
    """``accutics fake-server`` on a fixed port, started and SIGKILLed at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> dict[str, Any]:
        """Start it and wait until it listens (blocking: call it in a thread)."""
        argv = [*CLI, "fake-server", "--json", "--port", str(self.port)]
        argv += ["--records", str(RECORDS), "--seed", str(SEED), "--faults", "latency=1ms"]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.kill()
            pytest.fail(f"the fake server did not start on port {self.port}")
        self.starts += 1
        info: dict[str, Any] = json.loads(line)
        assert info["base_url"] == f"http://127.0.0.1:{self.port}/v1"
        return info

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def expected() -> list[str]:
    # The same seed gives the same records in this process as in the server's.
    return [record["id"] for record in FakeAccuticsServer(RECORDS, SEED).all_records()]


@pytest.fixture
def server() -> Any:
    process = ServerProcess(free_port())
    try:
        yield process
    finally:
        process.kill()


def _path(info: dict[str, Any], style: str) -> str:
    return str(info["page_endpoint"] if style == "page" else info["cursor_endpoint"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("style", "concurrency"), [("page", 1), ("page", 8), ("cursor", 1)], ids=str
)
async def test_export_rides_through_a_server_restart(
    server: ServerProcess,
    expected: list[str],
    tmp_path: Path,
    record_property: Any,
    style: str,
    concurrency: int,
) -> None:
    info = await asyncio.to_thread(server.start)
    restarted: asyncio.Task[dict[str, Any]] | None = None
    loop = asyncio.get_running_loop()
    down_at = 0.0

    async def restart() -> dict[str, Any]:
        await asyncio.sleep(0.3)  # down for a while: connections are refused meanwhile
        return await asyncio.to_thread(server.start)

    def progress(state: ExportProgress) -> None:
        nonlocal restarted, down_at
        if state.pages == KILL_AT_PAGE and restarted is None:
            server.kill()  # SIGKILL, with requests in flight when concurrent
            down_at = loop.time()
            restarted = asyncio.ensure_future(restart())

    # Patient enough to wait out a slow restart (about 8 s of waits in all,
    # rarely less than 6); the export goes on as soon as the server is back.
    policy = RetryPolicy(max_attempts=60, backoff=0.05, max_backoff=0.3)
    out = tmp_path / "out.jsonl"
    async with AccuticsClient(info["token"], base_url=info["base_url"], retry=policy) as client:
        result = await export(
            client,
            _path(info, style),
            out,
            page_size=100,
            concurrency=concurrency,
            progress=progress,
            fsync=False,
        )
        back_after = loop.time() - down_at
    assert restarted is not None
    await restarted
    assert server.starts == 2
    assert result.records == RECORDS
    assert jsonl_ids(out) == expected
    # The outage was seen (as resets or refused connections), and ridden out.
    assert sum(client.stats[f"retries.{kind}"] for kind in TRANSPORT_ERROR_KINDS) > 0
    report(
        record_property,
        f"crash_ride_through[{style},c{concurrency}]",
        {
            "records_checked": RECORDS,
            "retries": {k: v for k, v in client.stats.items() if k.startswith("retries.")},
            "export_finished_s_after_kill": round(back_after, 2),
        },
    )


@pytest.mark.slow
@pytest.mark.parametrize(("style", "concurrency"), [("page", 8), ("cursor", 1)], ids=str)
async def test_export_stopped_by_a_crash_resumes_exactly_once(
    server: ServerProcess,
    expected: list[str],
    tmp_path: Path,
    record_property: Any,
    style: str,
    concurrency: int,
) -> None:
    info = await asyncio.to_thread(server.start)
    capture = Capture()

    def progress(state: ExportProgress) -> None:
        if state.pages == KILL_AT_PAGE:
            server.kill()

    out = tmp_path / "out.jsonl"
    policy = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05)
    async with AccuticsClient(info["token"], base_url=info["base_url"], retry=policy) as client:
        with pytest.raises(TransportError) as stopped:
            await export(
                client,
                _path(info, style),
                out,
                page_size=100,
                concurrency=concurrency,
                progress=progress,
            )
    capture.add_exception(stopped.value)

    # A valid checkpoint: the partial file up to its offset is exactly the
    # first `records` records, and the pager checkpoint continues after them.
    saved = read_checkpoint(out)
    assert saved is not None
    with open(f"{out}.part", "rb") as handle:  # noqa: ASYNC230 - a small local file
        part = handle.read(saved["offset"])
    done = [json.loads(line)["id"] for line in part.splitlines()]
    assert KILL_AT_PAGE * 100 <= saved["records"] == len(done) < RECORDS
    assert done == expected[: len(done)]
    assert saved["pager"]["done"] is False
    capture.add_file(f"{out}.checkpoint.json")

    await asyncio.to_thread(server.start)  # the same port, a new process
    argv = ["export", _path(info, style), "--out", str(out), "--page-size", "100"]
    argv += ["--concurrency", str(concurrency), "--resume", "--no-progress"]
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *argv,
        env=cli_env(info["token"], info["base_url"]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    capture.add("cli stdout", stdout)
    capture.add("cli stderr", stderr)
    assert proc.returncode == 0, stderr.decode()
    assert b"resumed after" in stderr
    assert jsonl_ids(out) == expected  # every record once, in the order of a clean export
    assert read_checkpoint(out) is None
    capture.assert_clean(info["token"])
    report(
        record_property,
        f"crash_then_resume[{style},c{concurrency}]",
        {"records_before_crash": len(done), "records_checked": RECORDS},
    )
