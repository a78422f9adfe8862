"""Sharded export on a real Dask cluster: ``dask scheduler`` and ``dask worker`` processes.

The fake server runs as ``accutics fake-server`` with 20 ms per request, so
a shard takes long enough to kill its worker (or the client) half way; the
kills wait for evidence (a shard checkpoint with records in it), never for a
time. The workers alone hold the token; every log line the cluster wrote
and the state the scheduler dumps are searched for it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import orjson
import pytest
from dask_support import LocalDaskCluster, token_findings

from accutics_async import AccuticsClient, PermissionDeniedError
from accutics_async.export import ExportProgress, export, export_on_dask, read_checkpoint

pytestmark = pytest.mark.slow

N = 1600
PAGE = 10
SHARDS = 4


@pytest.fixture(scope="module")
def fake() -> Iterator[dict[str, Any]]:
    """``accutics fake-server`` in a subprocess, 20 ms per request; its ``--json`` details."""
    with fake_server("latency=20ms") as details:
        yield details


@contextlib.contextmanager
def fake_server(faults: str) -> Iterator[dict[str, Any]]:
    """``accutics fake-server --faults FAULTS``, seed 16: the workers' token is its token."""
    argv = [sys.executable, "-m", "accutics_async", "fake-server", "--json"]
    argv += ["--records", str(N), "--seed", "16", "--faults", faults]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def reference(fake: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What a local, unsharded export sorted by ``created_at`` writes, per endpoint."""
    folder = tmp_path_factory.mktemp("reference")

    async def both() -> dict[str, bytes]:
        found = {}
        async with AccuticsClient(
            fake["token"], base_url=fake["base_url"], max_concurrency=8
        ) as client:
            for endpoint in (fake["page_endpoint"], fake["cursor_endpoint"]):
                out = folder / "reference.jsonl"
                await export(client, endpoint, out, sort="created_at", page_size=100, fsync=False)
                found[endpoint] = out.read_bytes()
        return found

    return asyncio.run(both())


@pytest.fixture(scope="module")
def cluster(
    fake: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalDaskCluster]:
    """A scheduler and two workers; only the workers have the token (and no base URL)."""
    folder = tmp_path_factory.mktemp("dask")
    cluster = LocalDaskCluster(folder, worker_env={"ACCUTICS_TOKEN": fake["token"]})
    try:
        for _ in range(2):
            cluster.start_worker()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_client(
    cluster: LocalDaskCluster, monkeypatch: pytest.MonkeyPatch
) -> Iterator[distributed.Client]:
    """A client with two live workers, in a process that has no token at all."""
    for name in ("ACCUTICS_TOKEN", "ACCUTICS_BASE_URL", "ACCUTICS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for _ in range(2 - cluster.live_workers()):  # replace workers an earlier test killed
        cluster.start_worker()
    with distributed.Client(cluster.address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def assert_token_nowhere(token: str, cluster: LocalDaskCluster, client: Any, *extra: str) -> None:
    dump = cluster.folder / "cluster-dump"
    client.dump_cluster_state(str(dump), format="yaml")
    texts: dict[str, Any] = {
        "cluster logs": cluster.read_logs(),
        "scheduler and worker state": Path(f"{dump}.yaml").read_text(errors="replace"),
        "event log": client.get_events(),
    }
    texts.update({f"output {i}": text for i, text in enumerate(extra)})
    assert "Start worker at" in texts["cluster logs"]  # the logs are really there
    assert "GET " in texts["cluster logs"]  # with the library's DEBUG lines
    assert "accutics-shard" in texts["scheduler and worker state"]
    assert token_findings(token, texts) == []


def shard_in_progress(out: Path) -> tuple[int, int] | None:
    """(shard index, records) of a shard whose checkpoint holds records, else ``None``."""
    for checkpoint in sorted(out.parent.glob(f"{out.name}.shard-*.checkpoint.json")):
        shard_out = str(checkpoint)[: -len(".checkpoint.json")]
        try:
            saved = read_checkpoint(shard_out)
        except Exception:  # replaced while read: look again
            continue
        if saved and saved["records"] > 0:
            return int(shard_out.rsplit("shard-", 1)[1][:3]) - 1, saved["records"]
    return None


async def kill_a_worker_mid_shard(client: distributed.Client, out: Path) -> tuple[str, int, int]:
    """Wait until a shard has committed records, then SIGKILL the worker running it.

    Returns the worker's address, the shard's index and the records it had committed.
    """
    pids = await asyncio.to_thread(client.run, os.getpid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = shard_in_progress(out)
        if found is not None:
            index, records = found
            processing = await asyncio.to_thread(client.processing)
            tag = f"accutics-shard-{index + 1}-of-"
            for worker, keys in processing.items():
                if any(str(key).startswith(tag) for key in keys):
                    os.kill(pids[worker], signal.SIGKILL)
                    return worker, index, records
        await asyncio.sleep(0.01)
    raise AssertionError("no shard made progress")


async def test_a_killed_worker_loses_and_duplicates_nothing(
    fake: dict[str, Any],
    reference: dict[str, bytes],
    cluster: LocalDaskCluster,
    dask_client: distributed.Client,
    tmp_path: Path,
) -> None:
    out = tmp_path / "records.jsonl"
    seen: list[ExportProgress] = []
    run = asyncio.ensure_future(
        export_on_dask(
            dask_client,
            fake["page_endpoint"],
            out,
            shards=SHARDS,
            page_size=PAGE,
            base_url=fake["base_url"],
            checkpoint_every=0,  # a commit per page: the kill lands between two
            fsync=False,
            progress=seen.append,
        )
    )
    victim, _index, committed = await kill_a_worker_mid_shard(dask_client, out)
    result = await run
    assert out.read_bytes() == reference[fake["page_endpoint"]]
    assert result.records == N
    # The killed shard ran again on the other worker, from its checkpoint.
    assert victim not in dask_client.scheduler_info()["workers"]
    assert result.resumed_records >= committed > 0
    # Progress came from the tasks while they ran, adding up across shards.
    assert seen[-1].records == N
    assert sum(0 < p.records < N for p in seen) >= SHARDS
    assert seen[-1].total_items == N
    assert sorted(os.listdir(tmp_path)) == ["records.jsonl"]
    assert_token_nowhere(fake["token"], cluster, dask_client)


def start_cli(
    out: Path | str, fake: dict[str, Any], address: str, *extra: str, cwd: Path | None = None
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "accutics_async", "export", fake["cursor_endpoint"]]
    argv += ["--out", str(out), "--shards", str(SHARDS), "--dask", address]
    argv += ["--page-size", str(PAGE), "--checkpoint-every", "0", "--no-fsync"]
    argv += ["--base-url", fake["base_url"], *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCUTICS_")}
    return subprocess.Popen(
        [*argv], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# A relative OUT too: the plan holds absolute paths (the workers run elsewhere).
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_cli_resumes_after_the_client_is_killed(
    fake: dict[str, Any],
    reference: dict[str, bytes],
    cluster: LocalDaskCluster,
    dask_client: distributed.Client,
    tmp_path: Path,
    relative: bool,
) -> None:
    out = tmp_path / "records.jsonl"
    given = "records.jsonl" if relative else out
    first = start_cli(given, fake, cluster.address, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while shard_in_progress(out) is None:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "no shard made progress"
        time.sleep(0.01)
    first.kill()
    outputs = list(first.communicate())
    assert first.returncode == -signal.SIGKILL
    assert Path(f"{out}.shards.json").exists()
    # The tasks of the killed client may still be running: the resumed run waits for them.
    again = start_cli(given, fake, cluster.address, "--resume", "--progress", cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=60)
    outputs += [stdout, stderr]
    assert again.returncode == 0, stderr
    assert out.read_bytes() == reference[fake["cursor_endpoint"]]
    ids = [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()]
    assert len(ids) == len(set(ids)) == N
    assert f"wrote {N:,} records" in stderr
    assert "resumed after" in stderr
    assert "records" in stderr.split("wrote")[0]  # the progress bar drew counts first
    assert sorted(os.listdir(tmp_path)) == ["records.jsonl"]
    assert_token_nowhere(fake["token"], cluster, dask_client, *outputs)


async def test_a_csv_out_is_written_as_csv(
    fake: dict[str, Any], dask_client: distributed.Client, tmp_path: Path
) -> None:
    """The format comes from OUT's suffix, as for export() and export_sharded()."""
    out = tmp_path / "records.csv"
    result = await export_on_dask(
        dask_client,
        fake["cursor_endpoint"],
        out,
        shards=SHARDS,
        page_size=100,
        base_url=fake["base_url"],
        fsync=False,
    )
    assert result.format == "csv"
    local = tmp_path / "local.csv"
    async with AccuticsClient(fake["token"], base_url=fake["base_url"]) as client:
        endpoint = fake["cursor_endpoint"]
        await export(client, endpoint, local, sort="created_at", page_size=100, fsync=False)
    assert out.read_bytes() == local.read_bytes()
    assert out.read_bytes().startswith(b"id,")
    assert sorted(os.listdir(tmp_path)) == ["local.csv", "records.csv"]


async def test_an_export_failing_before_any_shard_got_a_page_leaves_no_file(
    dask_client: distributed.Client, tmp_path: Path
) -> None:
    """Planning succeeds (its two requests), then every shard's first request is refused."""
    out = tmp_path / "records.jsonl"
    with fake_server("403=1,skip_first=2") as refusing:
        for _ in range(2):  # and so a plain second run is not refused as an interrupted export
            with pytest.raises(PermissionDeniedError):
                await export_on_dask(
                    dask_client,
                    refusing["cursor_endpoint"],
                    out,
                    shards=2,
                    base_url=refusing["base_url"],
                    fsync=False,
                    retries=0,
                )
            assert os.listdir(tmp_path) == []


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACCUTICS_")}
    return subprocess.run(
        [sys.executable, "-m", "accutics_async", "export", *argv],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


DASK_ARGS = ["--out", "x.jsonl", "--shards", "2", "--dask", "tcp://127.0.0.1:1"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--out", "x.jsonl", "--dask", "tcp://127.0.0.1:1"], "--dask needs --shards"),
        (["--out", "-", "--shards", "2", "--dask", "tcp://127.0.0.1:1"], "--out"),
        (
            [
                "--out",
                "x.jsonl",
                "--shards",
                "2",
                "--dask",
                "tcp://127.0.0.1:1",
                "--token-file",
                "t",
            ],
            "--token-file does not apply with --dask",
        ),
        (
            [
                "--out",
                "x.jsonl",
                "--shards",
                "2",
                "--dask",
                "tcp://127.0.0.1:1",
                "--rate-limit",
                "5",
            ],
            "--rate-limit does not apply with --dask",
        ),
        (DASK_ARGS + ["--timeout", "5"], "--timeout does not apply with --dask"),  # noqa: RUF005
        (DASK_ARGS + ["--allow-insecure"], "--allow-insecure does not apply with --dask"),  # noqa: RUF005
        # The checks of a local export hold with --dask too.
        (DASK_ARGS + ["--sort", "updated_at"], "--sort"),  # noqa: RUF005
        (DASK_ARGS + ["--search", "nosuchop"], "--search"),  # noqa: RUF005
        (
            ["--out", ".", "--shards", "2", "--dask", "tcp://127.0.0.1:1"],
            "--out",
        ),
    ],
)
def test_cli_usage_errors_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from accutics_async.cli import main

    assert main(["export", "/records", *argv]) == 2  # refused before any connection
    err = capsys.readouterr().err
    assert says in err
    assert len(err.strip().splitlines()) == 1


def test_an_unreachable_scheduler_exits_4(tmp_path: Path) -> None:
    with __import__("socket").socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_cli(
        "/records",
        "--out",
        str(tmp_path / "x.jsonl"),
        "--shards",
        "2",
        "--dask",
        f"tcp://127.0.0.1:{port}",
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"},
    )
    assert done.returncode == 4, done.stderr
    assert "cannot reach the Dask scheduler" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


async def test_the_tasks_run_without_a_cluster_too(
    accutics_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A task is a plain function: the plan, a shard, then the same shard found finished."""
    from accutics_async.export._dask_tasks import plan_task, shard_task

    monkeypatch.setenv("ACCUTICS_TOKEN", accutics_server.token)
    out = str(tmp_path / "records.jsonl")
    query = {"sort": None, "page_size": 50, "format": "jsonl", "field": "created_at"}
    specs = await asyncio.to_thread(
        plan_task, "/records", 2, query, out=out, base_url=accutics_server.base_url
    )
    assert [spec["index"] for spec in specs] == [0, 1]
    options = {"base_url": accutics_server.base_url, "topic": "t", "fsync": False}
    first = await asyncio.to_thread(shard_task, specs[0], checkpoint_every=0, **options)
    assert first["records"] > 0
    assert first["pages"] > 0
    requests = accutics_server.stats.total_requests
    again = await asyncio.to_thread(shard_task, specs[0], checkpoint_every=0, **options)
    assert accutics_server.stats.total_requests == requests  # nothing fetched again
    assert again["records"] == first["records"]
    size = await asyncio.to_thread(os.path.getsize, specs[0]["out"])
    assert again["bytes"] == first["bytes"] == size
