"""The ``accutics`` command: in-process for speed, in subprocesses for signals and kills."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from accutics_async import errors
from accutics_async.cli import EXIT_CODES, main
from accutics_async.export import CheckpointExistsError, ExportError

N = 1500


@pytest.fixture(scope="module")
def fake() -> Iterator[dict[str, Any]]:
    """``accutics fake-server`` in a subprocess; its ``--json`` line as a dict.

    A little latency per request keeps an export running long enough to be
    killed half way.
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accutics_async",
            "fake-server",
            "--json",
            "--records",
            str(N),
            "--seed",
            "4",
            "--faults",
            "latency=2ms",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        info = json.loads(line)
        assert info["records"] == N
        assert info["token"]
        yield info
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0  # Ctrl-C is the normal way to stop it
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def env(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"ACCUTICS_TOKEN": fake["token"], "ACCUTICS_BASE_URL": fake["base_url"]}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ids(path: Path) -> list[str]:
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def clean(fake: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A clean export of each endpoint, the reference for kills and interrupts."""
    import asyncio

    from accutics_async import AccuticsClient
    from accutics_async.export import export

    folder = tmp_path_factory.mktemp("clean")

    async def both() -> dict[str, bytes]:
        found = {}
        async with AccuticsClient(fake["token"], base_url=fake["base_url"]) as client:
            for endpoint in (fake["page_endpoint"], fake["cursor_endpoint"]):
                out = folder / "clean.jsonl"
                await export(client, endpoint, out, page_size=20, fsync=False)
                found[endpoint] = out.read_bytes()
        return found

    return asyncio.run(both())


# -- usage and configuration errors ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["export"],
        ["export", "/records"],
        ["export", "/records", "--out", "x", "--page-size", "0"],
        ["export", "/records", "--out", "x", "--concurrency", "many"],
        ["export", "/records", "--out", "x", "--rate-limit", "0"],
        ["export", "/records", "--out", "x", "--rate-limit", "fast"],
        ["export", "/records", "--out", "x", "--resume", "--restart"],
        ["export", "/records", "--out", "x", "--format", "xml"],
        ["export", "/records", "--out", "x", "--token", "secret"],  # no such flag, on purpose
        ["fake-server", "--port", "70000"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: Any) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "error:" in err


def test_missing_token_and_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("ACCUTICS_TOKEN", raising=False)
    monkeypatch.delenv("ACCUTICS_BASE_URL", raising=False)
    code, _, err = run(["export", "/records", "--out", str(tmp_path / "x.jsonl")], capsys)
    assert code == 2
    assert err == "accutics: error: no API token: set ACCUTICS_TOKEN or pass --token-file FILE\n"
    monkeypatch.setenv("ACCUTICS_TOKEN", "t")
    code, _, err = run(["get", "/records"], capsys)
    assert code == 2
    assert "no base URL" in err
    empty = tmp_path / "token"
    empty.write_text("\n")
    code, _, err = run(["get", "/records", "--token-file", str(empty)], capsys)
    assert code == 2
    assert "is empty" in err
    code, _, err = run(["get", "/records", "--token-file", str(tmp_path / "none")], capsys)
    assert code == 2
    assert "cannot read the token file" in err
    assert os.listdir(tmp_path) == ["token"]


def test_bad_search_is_a_usage_error(env: dict[str, str], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "x.jsonl"
    code, _, err = run(["export", "/records", "--out", str(out), "--search", "a:zz:1"], capsys)
    assert code == 2
    assert "unknown operator" in err
    assert err.count("\n") == 1
    code, _, err = run(["get", "/records", "--param", "novalue"], capsys)
    assert code == 2
    assert "NAME=VALUE" in err


def test_exit_code_table() -> None:
    from accutics_async.cli import _exit_code

    assert _exit_code(errors.TransportError("reset")) == 4
    assert _exit_code(errors.DecodeError("not json")) == 4
    assert _exit_code(errors.NotFoundError("x", status=404)) == 3
    assert _exit_code(CheckpointExistsError("x", path="p")) == 2
    assert _exit_code(ExportError("x")) == 1
    assert _exit_code(RuntimeError("bug")) == 1
    assert all(code in (1, 2, 3, 4) for _, code in EXIT_CODES)


# -- commands in-process --------------------------------------------------------------


def test_get_prints_the_json_response(env: dict[str, str], capsys: Any) -> None:
    code, out, err = run(["get", "/records", "--param", "page_size=2"], capsys)
    assert code == 0
    assert err == ""
    body = json.loads(out)
    assert len(body["data"]) == 2
    assert body["meta"]["pagination"]["total_items"] == N
    assert env["ACCUTICS_TOKEN"] not in out


def test_api_errors_exit_3_without_showing_the_token(
    fake: dict[str, Any], env: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake["restricted_token"] + "\n")
    token_file.chmod(0o600)  # else a warning says others can read it
    code, out, err = run(["get", "/records", "--token-file", str(token_file)], capsys)
    assert code == 3
    assert "403" in err
    assert "authorization" in err
    assert err.count("\n") == 1
    code, out, err = run(["get", "/records/nope"], capsys)
    assert code == 3
    assert "404" in err
    for token in (fake["restricted_token"], fake["token"]):
        assert token not in out + err


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_export_writes_the_file_and_a_summary(
    fake: dict[str, Any], env: dict[str, str], tmp_path: Path, capsys: Any, suffix: str
) -> None:
    out = tmp_path / f"records.{suffix}"
    argv = ["export", fake["page_endpoint"], "-o", str(out), "--page-size", "100"]
    code, stdout, err = run([*argv, "--concurrency", "4", "--progress", "--no-fsync"], capsys)
    assert code == 0
    assert stdout == ""
    assert f"wrote {N:,} records to {out}" in err
    assert "records/s" in err
    assert f"{N:,}/{N:,} records" in err  # the progress bar, drawn on stderr
    assert fake["token"] not in err
    head = out.read_bytes()[:40]
    assert head.startswith(b"id,created_at") if suffix == "csv" else head.startswith(b'{"id"')
    code, _, err = run([*argv, "--no-progress"], capsys)
    assert code == 0  # the destination is simply replaced


def test_export_with_a_rate_limit_writes_every_record(
    fake: dict[str, Any], env: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "limited.jsonl"
    argv = ["export", fake["page_endpoint"], "-o", str(out), "--page-size", "100"]
    code, _, err = run([*argv, "--rate-limit", "500", "--concurrency", "2", "--no-fsync"], capsys)
    assert code == 0, err
    assert f"wrote {N:,} records to {out}" in err


def test_sharded_cli_export_equals_the_clean_one(
    fake: dict[str, Any], env: dict[str, str], tmp_path: Path, capsys: Any, clean: Any
) -> None:
    out = tmp_path / "sharded.jsonl"
    argv = ["export", fake["cursor_endpoint"], "-o", str(out), "--shards", "4"]
    code, _, err = run([*argv, "--page-size", "20", "--no-progress"], capsys)
    assert code == 0, err
    assert out.read_bytes() == clean[fake["cursor_endpoint"]]


def test_an_interrupted_export_needs_resume_or_restart(
    fake: dict[str, Any], env: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "x.jsonl"
    Path(f"{out}.part").write_bytes(b"")
    checkpoint = {
        "kind": "accutics_async.export",
        "version": 1,
        "format": "jsonl",
        "pager": {},
        "offset": 0,
        "records": 0,
        "pages": 0,
    }
    Path(f"{out}.checkpoint.json").write_text(json.dumps(checkpoint))
    argv = ["export", fake["cursor_endpoint"], "-o", str(out), "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "--resume" in err
    assert "--restart" in err
    assert "resume=True" not in err  # flags, not Python arguments
    assert "discard_export" not in err
    code, _, err = run([*argv, "--restart"], capsys)
    assert code == 0
    assert len(ids(out)) == N


def test_demo(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "demo.jsonl"
    code, stdout, err = run(["demo", "--records", "300", "--out", str(out), "--progress"], capsys)
    assert code == 0
    assert stdout == ""  # the summary is on standard error, as export's
    assert f"wrote 300 records to {out}" in err
    assert "records/s" in err
    assert "fake Accutics API" in err
    assert "300/300 records" in err
    assert len(ids(out)) == 300


def test_demo_to_standard_output_writes_only_json_lines(capsys: Any) -> None:
    code, stdout, err = run(["demo", "--records", "50", "--out", "-", "--no-progress"], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 50
    assert len({orjson.loads(line)["id"] for line in lines}) == 50  # every line is a record
    assert "wrote 50 records to standard output" in err


def test_a_missing_rich_is_a_clear_error(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    argv = ["demo", "--records", "10", "--out", str(tmp_path / "d.jsonl"), "--progress"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "pip install 'accutics-async[cli]'" in err
    assert "--no-progress" in err


# -- subprocesses: kill -9 and Ctrl-C -------------------------------------------------


def start_export(
    env: dict[str, str], endpoint: str, out: Path, *extra: str, checkpoint_every: str = "0"
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "accutics_async", "export", endpoint, "--out", str(out)]
    # By default commits after every page, so a test can kill between any two.
    return subprocess.Popen(
        [*argv, "--page-size", "20", "--checkpoint-every", checkpoint_every, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_progress(proc: subprocess.Popen[str], out: Path, at_least: int) -> None:
    checkpoint = Path(f"{out}.checkpoint.json")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if checkpoint.exists() and os.path.getsize(f"{out}.part") >= at_least:
            return
        time.sleep(0.002)
    raise AssertionError("the export made no progress")


@pytest.mark.slow
# "0.02": commits lag the pages written, so a kill usually leaves pages in the
# partial file that no checkpoint names; resume must cut them off.
@pytest.mark.parametrize("checkpoint_every", ["0", "0.02"])
def test_kill_9_at_random_points_then_resume(
    fake: dict[str, Any],
    env: dict[str, str],
    tmp_path: Path,
    clean: dict[str, bytes],
    checkpoint_every: str,
) -> None:
    rng = random.Random(os.environ.get("PYTEST_XDIST_WORKER", "kill"))
    for round_, endpoint in enumerate([fake["cursor_endpoint"], fake["page_endpoint"]]):
        expected = clean[endpoint]
        out = tmp_path / f"out{round_}.jsonl"
        extra = ("--concurrency", "3") if endpoint == fake["page_endpoint"] else ()
        kills = 0
        for _ in range(2):  # killed twice, at random points, before finishing
            proc = start_export(
                env, endpoint, out, "--resume", *extra, checkpoint_every=checkpoint_every
            )
            wait_for_progress(proc, out, rng.randrange(1, len(expected) // 2))
            time.sleep(rng.random() * 0.05)
            proc.kill()
            proc.communicate()
            kills += proc.returncode == -signal.SIGKILL
        proc = start_export(env, endpoint, out, "--resume", *extra)
        _stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        data = out.read_bytes()
        assert data == expected  # same ids, no duplicates, same order
        assert len(ids(out)) == len(set(ids(out))) == N
        assert kills >= 1
        assert sorted(os.listdir(tmp_path))[-1] == out.name
        assert not list(tmp_path.glob("*.part"))
        assert not list(tmp_path.glob("*.checkpoint.json"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_saves_the_checkpoint_and_exits_130(
    fake: dict[str, Any],
    env: dict[str, str],
    tmp_path: Path,
    clean: dict[str, bytes],
    signum: signal.Signals,
) -> None:
    out = tmp_path / "out.jsonl"
    endpoint = fake["cursor_endpoint"]
    proc = start_export(env, endpoint, out)
    wait_for_progress(proc, out, 1)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum, stderr
    assert "--resume" in stderr
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr
    saved = json.loads(Path(f"{out}.checkpoint.json").read_text())
    # The checkpoint matches the partial file exactly: nothing to cut back.
    assert os.path.getsize(f"{out}.part") == saved["offset"]
    assert saved["records"] == Path(f"{out}.part").read_bytes().count(b"\n")
    proc = start_export(env, endpoint, out, "--resume")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "resumed after" in stderr
    assert out.read_bytes() == clean[endpoint]


def stop_when_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``fake-server`` get Ctrl-C right after it printed its details."""
    import asyncio

    from accutics_async import testing

    real = testing.serve_forever

    async def serve(**kw: Any) -> None:
        announce = kw["on_ready"]

        def on_ready(server: Any) -> None:
            announce(server)
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)

        await real(**{**kw, "on_ready": on_ready})

    monkeypatch.setattr(testing, "serve_forever", serve)


def test_fake_server_prints_how_to_connect(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    stop_when_ready(monkeypatch)
    argv = ["fake-server", "--records", "5", "--token", "T0K", "--faults", "500=0.1"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "base_url: http://127.0.0.1:" in out
    assert "token: T0K" in out
    assert "cursor_endpoint: /stream/records" in out
    assert "ACCUTICS_TOKEN=T0K" in out
    assert "faults: 500=0.1" in out
    code, out, err = run([*argv[:3], "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["records"] == 5


def test_fake_server_refuses_a_bad_fault_spec(capsys: Any) -> None:
    code, _, err = run(["fake-server", "--faults", "nonsense"], capsys)
    assert code == 2
    assert "bad --faults" in err
