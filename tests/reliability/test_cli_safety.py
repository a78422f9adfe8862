"""What the ``accutics`` command reads (``--token-file``) and prints (a server's text), made safe.

Each test runs the installed ``accutics`` script in a subprocess, as a user
would, against a local server that records what it is asked.
"""

# Small local files, set up between awaits; an executor would only obscure the tests.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from loopback_support import serve_app
from reliability_support import HOSTILE_TOKEN, Listener, cli_env

from accutics_async import AccuticsClient, InvalidRequestError
from accutics_async.testing import FakeAccuticsServer

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes, FIFOs and symlinks")

ACCUTICS = str(Path(sys.executable).with_name("accutics"))
MAX_TOKEN_BYTES = 64 * 1024  # the documented bound on a token file


async def accutics(
    args: Sequence[str | bytes], env: dict[str, str], stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    """Run the installed script; a hang fails the test instead of blocking the run."""
    proc = await asyncio.create_subprocess_exec(
        ACCUTICS,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"accutics {args} hung") from None
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener().running() as running:
        yield running


def no_token_env(base_url: str) -> dict[str, str]:
    env = cli_env("unused", base_url)
    del env["ACCUTICS_TOKEN"]
    return env


# -- --token-file ------------------------------------------------------------------


def token_file(folder: Path, mode: int = 0o600, content: str = HOSTILE_TOKEN + "\n") -> Path:
    path = folder / "token"
    path.write_text(content)
    path.chmod(mode)
    return path


async def test_a_private_token_file_and_stdin_are_read_without_a_warning(tmp_path: Path) -> None:
    async with FakeAccuticsServer(records=3, seed=2) as server:
        env = no_token_env(server.base_url)
        path = token_file(tmp_path, content=server.token + "\n")
        code, out, err = await accutics(["get", "/records", "--token-file", str(path)], env)
        assert code == 0, err
        assert len(orjson.loads(out)["data"]) == 3
        assert err == b""
        code, out, err = await accutics(
            ["get", "/records", "--token-file", "-"], env, stdin=f"{server.token}\n".encode()
        )
        assert code == 0, err
        assert err == b""


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=lambda m: f"{m:04o}")
async def test_a_token_file_others_can_read_works_with_a_warning(tmp_path: Path, mode: int) -> None:
    async with FakeAccuticsServer(records=3, seed=2) as server:
        path = token_file(tmp_path, mode, content=server.token + "\n")
        code, _, err = await accutics(
            ["get", "/records", "--token-file", str(path)], no_token_env(server.base_url)
        )
    assert code == 0, err
    assert f"readable by other users (mode {mode:04o}); chmod 600".encode() in err


def make_symlink(tmp_path: Path) -> Path:
    link = tmp_path / "link"
    link.symlink_to(token_file(tmp_path))
    return link


def make_fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer, ever: a plain open() would wait for one forever
    return fifo


def make_huge(tmp_path: Path) -> Path:
    return token_file(tmp_path, content="x" * (MAX_TOKEN_BYTES + 1))


REFUSED = {
    "symlink": (make_symlink, b"is a symbolic link"),
    "fifo": (make_fifo, b"is not a regular file"),
    "device": (lambda _: Path("/dev/zero"), b"is not a regular file"),
    "directory": (lambda tmp: tmp, b"is not a regular file"),
    "huge": (make_huge, b"is over 65536 bytes"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
async def test_a_token_file_that_is_not_a_small_regular_file_is_refused_before_any_request(
    tmp_path: Path, listener: Listener, kind: str
) -> None:
    make, message = REFUSED[kind]
    path = make(tmp_path)
    code, out, err = await accutics(
        ["get", "/records", "--token-file", str(path)], no_token_env(listener.url)
    )
    assert code == 2, err
    assert message in err
    assert out == b""
    assert listener.received == []  # nothing sent, nothing read into the Authorization header
    if kind == "symlink":
        assert stat.S_ISREG(os.stat(path).st_mode)  # the target was real, and still refused


async def test_ctrl_c_stops_a_wait_for_the_token_on_stdin(listener: Listener) -> None:
    """``--token-file -`` with nothing written: Ctrl-C must end the wait (exit 130)."""
    proc = await asyncio.create_subprocess_exec(
        ACCUTICS,
        "get",
        "/records",
        "--token-file",
        "-",
        env=no_token_env(listener.url),
        stdin=asyncio.subprocess.PIPE,  # open, and never written to
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # Wait (by polling the kernel's record of it, not by a timed guess)
        # until the command is blocked reading the pipe.
        for _ in range(400):
            try:
                waiting = Path(f"/proc/{proc.pid}/wchan").read_text()
            except OSError:
                waiting = ""
            if "pipe_read" in waiting:
                break
            await asyncio.sleep(0.025)
        else:
            pytest.skip("cannot tell when the command waits on its standard input")
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert listener.received == []


# -- a server's text on the terminal -----------------------------------------------

FORGED = (
    "\x1b]0;owned\x07"  # set the window title
    "\r\x1b[2Kaccutics: done, 0 errors\n"  # erase the line, forge a success
    "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: write to the clipboard
    "\x9b31m\u202e"  # C1 CSI and a right-to-left override
)


def hostile_app() -> web.Application:
    async def failing(request: web.Request) -> web.Response:
        doc = {"error": {"code": "server_error", "message": f"boom {FORGED}"}}
        return web.Response(status=400, body=orjson.dumps(doc), content_type="application/json")

    async def listing(request: web.Request) -> web.Response:
        doc = {"data": [{"id": "1", "note": f"x{FORGED}\x7fy"}], "meta": {}}
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/fail", failing)
    app.router.add_get("/v1/records", listing)
    return app


CONTROLS = [b"\x1b", b"\x07", b"\r", b"\x7f", "\x9b".encode(), "\u202e".encode()]


async def test_a_server_error_message_reaches_the_terminal_without_its_escape_sequences() -> None:
    async with serve_app(hostile_app()) as base:
        code, _, err = await accutics(["get", "/fail"], cli_env(HOSTILE_TOKEN, f"{base}/v1"))
    assert code == 3
    assert err.startswith(b"accutics: error: HTTP 400")
    assert err.count(b"\n") == 1  # one line: no forged second one
    assert not [c for c in CONTROLS if c in err]
    assert b"\\x1b]0;owned\\x07" in err  # shown, not obeyed
    assert b"\\x9b31m\\u202e" in err


async def test_get_prints_server_records_with_controls_escaped_and_the_same_json() -> None:
    async with serve_app(hostile_app()) as base:
        code, out, err = await accutics(["get", "/records"], cli_env(HOSTILE_TOKEN, f"{base}/v1"))
    assert code == 0, err
    assert not [c for c in CONTROLS if c in out]
    assert orjson.loads(out)["data"] == [{"id": "1", "note": f"x{FORGED}\x7fy"}]  # nothing lost


# -- paths that are not text -------------------------------------------------------


async def test_an_undecodable_path_argument_is_refused_before_any_request(
    listener: Listener,
) -> None:
    code, _, err = await accutics(
        [b"get", b"/records/42\xff"], cli_env(HOSTILE_TOKEN, listener.url)
    )
    assert code == 2, err
    assert b"lone surrogate" in err
    assert listener.received == []


@pytest.mark.parametrize(
    "call",
    [
        {"method": "DELETE", "path": "/records/42\ud800"},
        {"method": "DELETE", "path": ("records", "42\udcff")},
        {"method": "GET", "path": "/records", "params": {"id": "42\ud800"}},
        {"method": "GET", "path": "/records", "params": {"i\udc80d": "42"}},
    ],
)
async def test_lone_surrogates_are_refused_not_dropped(
    listener: Listener, call: dict[str, Any]
) -> None:
    async with AccuticsClient(HOSTILE_TOKEN, base_url=listener.url) as client:
        with pytest.raises(InvalidRequestError, match="lone surrogate"):
            await client.request(call["method"], call["path"], params=call.get("params"))
        with pytest.raises(InvalidRequestError, match="lone surrogate"):
            client.paginate(call["path"], params=call.get("params"))
    assert listener.received == []  # /records/42 was not deleted instead


# -- the fake server on every interface ---------------------------------------------


@pytest.mark.parametrize(
    ("host", "warned"),
    [("0.0.0.0", True), ("::", True), ("192.0.2.7", True), ("127.0.0.1", False), ("::1", False)],
)
def test_fake_server_warns_when_it_listens_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str, warned: bool
) -> None:
    # In-process, with serving stubbed out: a test must not open a port to the network.
    from accutics_async import testing
    from accutics_async.cli import main

    served: list[str] = []

    async def serve(**kw: Any) -> None:
        served.append(kw["host"])

    monkeypatch.setattr(testing, "serve_forever", serve)
    assert main(["fake-server", "--host", host]) == 0
    assert served == [host]
    err = capsys.readouterr().err
    assert ("warning: listening on" in err) == warned
    if warned:
        assert f"{host}, not loopback" in err


def test_token_file_dash_without_any_standard_input_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from accutics_async.cli._exits import UsageError
    from accutics_async.cli._safety import read_token_file

    monkeypatch.setattr(sys, "stdin", None)  # what Python sets when fd 0 is closed
    with pytest.raises(UsageError, match="no standard input"):
        read_token_file("-", warn=print)
