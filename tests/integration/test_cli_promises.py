"""``accutics`` promises, run as a user would: the installed script in a subprocess.

Dashed values (``--sort -created_at``), exit status 2 naming the flag for
every bad argument, messages in flags, ``--resume`` refusing contradicting
options and saying when there is nothing to resume, the progress bar's ETA,
``--timeout`` and ``--allow-insecure``. Output files are compared byte for
byte with a clean export made by the library.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CliRun, run_accutics, server_env

from accutics_async import AccuticsClient
from accutics_async.export import ExportProgress, export, export_sharded
from accutics_async.testing import FakeAccuticsServer

SEED = 11  # with N: the records of the shared ``server`` fixture (conftest)
N = 300
PAGE = "20"


class Crash(Exception):
    """Stands in for the process dying after some pages were committed."""


def crash_after(pages: int) -> object:
    def progress(p: ExportProgress) -> None:
        if p.pages >= pages:
            raise Crash

    return progress


async def clean_export(server: FakeAccuticsServer, path: str, out: Path, **kw: object) -> bytes:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
        await export(client, path, out, page_size=int(PAGE), fsync=False, **kw)  # type: ignore[arg-type]
    return read(out)


def read(path: Path) -> bytes:
    return path.read_bytes()


def saved_files(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` and its content."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def one_line(run: CliRun) -> str:
    assert run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr
    return run.stderr


# -- 8. values starting with '-' -------------------------------------------------------


async def test_sort_values_may_start_with_a_dash(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    env = server_env(server)
    expected = await clean_export(server, "/records", tmp_path / "clean.jsonl", sort="-created_at")
    for n, spelling in enumerate((["--sort", "-created_at"], ["--sort=-created_at"])):
        out = tmp_path / f"cli-{n}.jsonl"
        argv = ["export", "/records", "--out", str(out), *spelling, "--page-size", PAGE]
        run = await run_accutics(*argv, "--no-progress", env=env)
        assert run.code == 0, run.stderr
        assert read(out) == expected
    # A flag where a value belongs is still an error, not taken as the value.
    argv = ["export", "/records", "--out", "x.jsonl", "--sort", "--resume"]
    run = await run_accutics(*argv, env=env)
    assert run.code == 2
    assert "--sort" in one_line(run)


# -- 9. every bad argument exits 2 with one line naming the flag -----------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_every_bad_argument_exits_2_naming_the_flag(
    server: FakeAccuticsServer, tmp_path: Path, busy_port: int
) -> None:
    out = str(tmp_path / "x.jsonl")
    export_ = ["export", "/records", "--no-progress"]
    cases: list[tuple[list[str], str, dict[str, str]]] = [
        ([*export_, "--out", out, "--checkpoint-every", "-1"], "--checkpoint-every", {}),
        ([*export_, "--out", out, "--checkpoint-every", "nan"], "--checkpoint-every", {}),
        ([*export_, "--out", out, "--timeout", "0"], "--timeout", {}),
        ([*export_, "--out", out, "--search", "bogus"], "--search", {}),
        ([*export_, "--out", out, "--sort", "a b"], "--sort", {}),
        ([*export_, "--out", str(tmp_path)], "--out", {}),
        ([*export_, "--out", "/dev/null"], "--out", {}),
        ([*export_, "--out", "-", "--resume"], "--resume", {}),
        ([*export_, "--out", "-", "--shards", "2"], "--shards", {}),
        ([*export_, "--out", out, "--shards", "2", "--sort", "input_medium"], "--sort", {}),
        ([*export_, "--out", out], "ACCUTICS_BASE_URL", {"ACCUTICS_BASE_URL": "ftp://x"}),
        # A control character in the token: a bare aiohttp ValueError and exit 1 on 2a36428.
        (["get", "/records"], "API token", {"ACCUTICS_TOKEN": "abc\x01def"}),
        (["get", "http://elsewhere.example/v1/records"], "PATH", {}),
        (["get", "../outside"], "PATH", {}),
        (["get", "/records", "--token-file", str(tmp_path / "missing")], "--token-file", {}),
        (["fake-server", "--seed", str(2**64)], "--seed", {}),
        (["fake-server", "--records", "-5"], "--records", {}),
        (["fake-server", "--token", ""], "--token", {}),
        (["fake-server", "--port", str(busy_port)], "--port", {}),
        (["demo", "--out", str(tmp_path), "--no-progress"], "--out", {}),
    ]
    before = server.stats.total_requests
    limit = asyncio.Semaphore(4)

    async def one(argv: list[str], env: dict[str, str]) -> CliRun:
        async with limit:
            return await run_accutics(*argv, env={**server_env(server), **env}, timeout=30)

    runs = await asyncio.gather(*(one(argv, env) for argv, _, env in cases))
    wrong = [
        (argv, run)
        for (argv, flag, _), run in zip(cases, runs, strict=True)
        if not (
            run.code == 2
            and run.stdout == ""
            and run.stderr.count("\n") == 1
            and flag in run.stderr
            and "Error:" not in run.stderr  # no Python exception names
            and "Traceback" not in run.stderr
        )
    ]
    assert not wrong, "\n".join(f"{argv}: exit {r.code}: {r.stderr}{r.stdout}" for argv, r in wrong)
    assert server.stats.total_requests == before  # refused before any request
    assert saved_files(tmp_path) == {}  # and nothing written


# -- 10. and 11. --resume: messages in flags, contradicting options, nothing to resume -


async def interrupted_export(server: FakeAccuticsServer, out: Path, **kw: object) -> None:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
        with pytest.raises(Crash):
            await export(
                client,
                "/records",
                out,
                page_size=int(PAGE),
                checkpoint_every=0,
                progress=crash_after(3),  # type: ignore[arg-type]
                **kw,  # type: ignore[arg-type]
            )
    assert f"{out.name}.checkpoint.json" in saved_files(out.parent)


def forget_query(checkpoint: Path) -> None:
    """Make ``checkpoint`` look like one of an older version, which did not record its options."""
    saved = json.loads(checkpoint.read_text())
    saved.pop("query", None)
    checkpoint.write_text(json.dumps(saved))


async def test_resume_refuses_an_option_that_contradicts_the_saved_export(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    env = server_env(server)
    out = tmp_path / "records.jsonl"
    await interrupted_export(server, out)
    files = saved_files(tmp_path)
    same = ["--out", str(out), "--page-size", PAGE, "--resume", "--no-progress"]
    contradictions = [
        (["/records", *same, "--sort=-created_at"], "--sort"),
        (["/records", *same, "--search", "input_medium:eq:email"], "--search"),
        (["/records", "--out", str(out), "--resume", "--no-progress"], "--page-size"),
        (["/records", *same, "--page-size", "30"], "--page-size"),
        (["/records", *same, "--format", "csv"], "--format"),
        (["/records", *same, "--shards", "2"], "--shards"),
        (["/stream/records", *same], "PATH"),
    ]
    before = server.stats.total_requests
    runs = await asyncio.gather(*(run_accutics("export", *a, env=env) for a, _ in contradictions))
    for (argv, flag), run in zip(contradictions, runs, strict=True):
        assert run.code == 2, (argv, run.stderr)
        message = one_line(run)
        assert flag in message, (argv, message)
        assert "--restart" in message
        assert "resume=True" not in message
        assert "discard_export" not in message
    assert server.stats.total_requests == before
    assert saved_files(tmp_path) == files  # nothing touched

    run = await run_accutics("export", "/records", *same, env=env)
    assert run.code == 0, run.stderr
    assert "resumed after 60" in run.stderr
    assert read(out) == await clean_export(server, "/records", tmp_path / "clean.jsonl")

    # Nothing left to resume and OUT is complete: say so, download nothing.
    finished = read(out)
    before = server.stats.total_requests
    run = await run_accutics("export", "/records", *same, env=env)
    assert run.code == 0, run.stderr
    assert "complete" in one_line(run)
    assert server.stats.total_requests == before
    assert read(out) == finished


async def test_resume_of_a_sharded_export_refuses_other_shards_or_sort(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    env = server_env(server)
    out = tmp_path / "sharded.jsonl"
    async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
        with pytest.raises(Crash):
            await export_sharded(
                client,
                "/records",
                out,
                shards=2,
                page_size=int(PAGE),
                checkpoint_every=0,
                progress=crash_after(3),  # type: ignore[arg-type]
            )
    files = saved_files(tmp_path)
    same = ["/records", "--out", str(out), "--page-size", PAGE, "--resume", "--no-progress"]
    contradictions = [
        (same, "--shards"),
        ([*same, "--shards", "3"], "--shards"),
        ([*same, "--shards", "2", "--sort=-created_at"], "--sort"),
    ]
    runs = await asyncio.gather(*(run_accutics("export", *a, env=env) for a, _ in contradictions))
    for (argv, flag), run in zip(contradictions, runs, strict=True):
        assert run.code == 2, (argv, run.stderr)
        assert flag in one_line(run), (argv, run.stderr)
        assert "--restart" in run.stderr
    assert saved_files(tmp_path) == files

    run = await run_accutics("export", *same, "--shards", "2", env=env)
    assert run.code == 0, run.stderr
    clean = await clean_export(server, "/records", tmp_path / "clean.jsonl", sort="created_at")
    assert read(out) == clean

    before = server.stats.total_requests
    run = await run_accutics("export", *same, "--shards", "2", env=env)
    assert run.code == 0, run.stderr
    assert "complete" in one_line(run)
    assert server.stats.total_requests == before
    assert read(out) == clean


async def test_messages_about_saved_state_speak_in_flags(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    env = server_env(server)
    out = tmp_path / "records.jsonl"
    await interrupted_export(server, out)
    # A checkpoint that does not say which options made it: the mismatch is
    # still refused, in flags.
    forget_query(tmp_path / f"{out.name}.checkpoint.json")
    argv = ["export", "/records", "--out", str(out), "--page-size", PAGE, "--resume"]
    run = await run_accutics(*argv, "--sort=-created_at", "--no-progress", env=env)
    assert run.code != 0
    message = one_line(run)
    assert "--restart" in message
    for python in ("resume=True", "discard_export", "start a new walk", "this checkpoint belongs"):
        assert python not in message
    # The partial file is gone: the only way on is --restart, and the message says so.
    os.unlink(f"{out}.part")
    run = await run_accutics(*argv, "--no-progress", env=env)
    assert run.code == 1
    assert "--restart" in one_line(run)
    run = await run_accutics(*argv[:-1], "--restart", "--no-progress", env=env)
    assert run.code == 0, run.stderr
    assert read(out) == await clean_export(server, "/records", tmp_path / "clean.jsonl")


# -- 12. the progress bar shows an ETA only when the total is known --------------------


async def test_eta_only_when_the_total_is_known(server: FakeAccuticsServer, tmp_path: Path) -> None:
    env = server_env(server)
    argv = ["--out", str(tmp_path / "x.jsonl"), "--page-size", "100", "--progress"]
    cursor = await run_accutics("export", server.cursor_endpoint, *argv, env=env)
    assert cursor.code == 0, cursor.stderr
    assert f"{N} records" in cursor.stderr
    assert "elapsed" in cursor.stderr
    assert "ETA" not in cursor.stderr
    paged = await run_accutics("export", server.page_endpoint, *argv, env=env)
    assert paged.code == 0, paged.stderr
    assert f"{N}/{N} records" in paged.stderr
    assert "elapsed" in paged.stderr
    assert "ETA" in paged.stderr


# -- 14. --timeout and --allow-insecure ------------------------------------------------


async def test_timeout_bounds_each_attempt(tmp_path: Path) -> None:
    ended: list[int] = []  # one entry per connection, once the client has given up on it
    all_ended = asyncio.Event()
    attempts = 4  # the default retry policy's max_attempts; GET timeouts are retried

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()
        ended.append(1)
        if len(ended) == attempts:
            all_ended.set()

    listener = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        env = {"ACCUTICS_TOKEN": "t" * 40, "ACCUTICS_BASE_URL": f"http://127.0.0.1:{port}/v1"}
        # Without --timeout the first attempt alone would wait 30 s, past this run's guard.
        run = await run_accutics("get", "/records", "--timeout", "0.2", env=env, timeout=25)
        # The connections the client opened may still be queued for this loop to handle.
        await asyncio.wait_for(all_ended.wait(), 10)
    assert run.code == 4, run.stderr
    assert "time" in one_line(run).lower()
    assert len(ended) == attempts  # every attempt was cut off, none more


async def test_allow_insecure_permits_plain_http_to_another_host(
    server: FakeAccuticsServer, tmp_path: Path
) -> None:
    # 0.0.0.0 is not a loopback address, yet connecting to it reaches this
    # host's 127.0.0.1 listener: a plain-http host the client refuses by default.
    port = server.base_url.split(":")[2].split("/")[0]
    env = {**server_env(server), "ACCUTICS_BASE_URL": f"http://0.0.0.0:{port}/v1"}
    out = tmp_path / "insecure.jsonl"
    argv = ["export", "/records", "--out", str(out), "--page-size", PAGE, "--no-progress"]
    refused = await run_accutics(*argv, env=env)
    assert refused.code == 2
    assert "--allow-insecure" in one_line(refused)
    assert not out.exists()
    run = await run_accutics(*argv, "--allow-insecure", env=env)
    assert run.code == 0, run.stderr
    assert read(out) == await clean_export(server, "/records", tmp_path / "clean.jsonl")
