"""A server that hands the token back in another spelling gets it into no file, log or traceback.

The hostile server echoes the token percent-encoded (in ``next`` links and
redirects) and JSON-escaped (in records and error messages). Every text
the library produced is then decoded the way a reader could decode it
(``\\uXXXX`` and ``%XX``, repeatedly) and searched for the token.
"""

# Small local files, read between awaits; an executor would only obscure the tests.

from __future__ import annotations

import asyncio
import re
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from aiohttp import web
from loopback_support import serve_app
from reliability_support import HOSTILE_TOKEN, Capture, capture_logs, cli_env, free_port

from accutics_async import AccuticsClient, APIError, PaginationError, TransportError, UnsafeURLError
from accutics_async.export import export

TOKEN = HOSTILE_TOKEN


def percent(text: str, *, upper: bool = False) -> str:
    return "".join((f"%{b:02X}" if upper else f"%{b:02x}") for b in text.encode())


def json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04X}" if i % 2 else f"\\u{ord(c):04x}" for i, c in enumerate(text))


def mixed(text: str) -> str:
    """Every third character percent-encoded, every third JSON-escaped, the rest as is."""
    spell = (lambda c: c, lambda c: percent(c, upper=True), lambda c: f"\\u{ord(c):04x}")
    return "".join(spell[i % 3](c) for i, c in enumerate(text))


def decoded(text: str) -> str:
    """``text`` as a reader could decode it: JSON escapes and %-encoding, three times over."""
    for _ in range(3):
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)
        text = unquote(text)
    return text


def assert_no_spelling(capture: Capture) -> None:
    leaks = [label for label, text in capture.texts if TOKEN in decoded(text)]
    assert not leaks, f"the token leaked into: {leaks[:5]}"
    assert sum(len(text) for _, text in capture.texts) > 0


def test_the_decoder_finds_every_spelling_used_here() -> None:
    """The control: each spelling the server sends does decode back to the token."""
    for spelling in (percent(TOKEN), percent(TOKEN, upper=True), json_escaped(TOKEN)):
        assert TOKEN not in spelling
        assert TOKEN in decoded(f"x{spelling}y")
    assert TOKEN in decoded(mixed(TOKEN))


class Hostile:
    """A listing whose links and records carry the token in disguise, plus redirects and errors."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def app(self) -> web.Application:
        routes = web.RouteTableDef()

        @routes.get("/v1/records")
        async def records(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path_qs)
            page = int(request.query.get("page", "1"))
            nxt = None if page == 3 else f"/v1/records?page={page + 1}&t={percent(TOKEN)}"
            # Raw JSON text, so the escapes reach the client as the server wrote them.
            record = (
                f'{{"id": "{page}", "note": "{json_escaped(TOKEN)}", "other": "{mixed(TOKEN)}"}}'
            )
            pagination = {"next": nxt, "total_items": 3, "items_per_page": 1, "page_param": "page"}
            meta = orjson.dumps({"pagination": pagination}).decode()
            body = f'{{"data": [{record}], "meta": {meta}}}'
            return web.Response(body=body.encode(), content_type="application/json")

        @routes.get("/v1/loop")
        async def loop(request: web.Request) -> web.StreamResponse:
            link = f"/v1/loop?t={percent(TOKEN, upper=True)}"
            doc = {"data": [{"id": "1"}], "meta": {"pagination": {"next": link}}}
            return web.json_response(doc)

        @routes.get("/v1/redirect/{where}")
        async def redirect(request: web.Request) -> web.StreamResponse:
            if request.match_info["where"] == "same":
                location = f"/v1/target?t={TOKEN}&u={percent(TOKEN)}"
            else:
                location = f"http://127.0.0.1:9/steal?t={TOKEN}"
            return web.Response(status=302, headers={"Location": location})

        @routes.get("/v1/target")
        async def target(request: web.Request) -> web.StreamResponse:
            return web.json_response({"data": {"ok": True}})

        @routes.get("/v1/error")
        async def error(request: web.Request) -> web.StreamResponse:
            message = f"bad token {json_escaped(TOKEN)}"
            body = '{"error": {"code": "server_error", "message": "' + message + '"}}'
            return web.Response(status=400, body=body.encode(), content_type="application/json")

        app = web.Application()
        app.add_routes(routes)
        return app


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[Hostile, str]]:
    server = Hostile()
    async with serve_app(server.app()) as url:
        yield server, f"{url}/v1"


class Crash(Exception):
    pass


def crash_after(pages: int) -> Any:
    def progress(state: Any) -> None:
        if state.pages >= pages:
            raise Crash

    return progress


async def test_an_escaped_token_reaches_no_export_checkpoint_or_log_line(
    hostile: tuple[Hostile, str], tmp_path: Path
) -> None:
    server, base = hostile
    out = tmp_path / "out.jsonl"
    capture = Capture()
    with capture_logs(capture):
        async with AccuticsClient(TOKEN, base_url=base) as client:
            with pytest.raises(Crash):
                await export(client, "records", out, checkpoint_every=0, progress=crash_after(2))
            capture.add_file(f"{out}.checkpoint.json")
            capture.add_file(f"{out}.part")
            result = await export(client, "records", out, resume=True)
    capture.add_file(out)
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in lines] == ["1", "2", "3"]  # every record is still there
    assert all(r["note"] == "[redacted]" for r in lines)
    assert result.records == 3
    # The links were followed (the server saw its pages asked for), minus the token.
    assert sorted({q.split("&")[0] for q in server.requests}) == [
        "/v1/records",
        "/v1/records?page=2",
        "/v1/records?page=3",
    ]
    assert any("[redacted]" in text for label, text in capture.texts if label.startswith("log"))
    assert_no_spelling(capture)


async def test_a_pagination_loop_error_does_not_quote_an_encoded_token(
    hostile: tuple[Hostile, str],
) -> None:
    _, base = hostile
    capture = Capture()
    async with AccuticsClient(TOKEN, base_url=base) as client:
        with pytest.raises(PaginationError, match="loop") as info:
            await client.paginate("loop").collect()
    capture.add_exception(info.value)
    assert_no_spelling(capture)


async def test_a_same_origin_redirect_leaves_no_token_in_the_response_url(
    hostile: tuple[Hostile, str],
) -> None:
    _, base = hostile
    async with AccuticsClient(TOKEN, base_url=base) as client:
        resp = await client.get("redirect/same")
    assert resp.data == {"ok": True}
    assert resp.url.startswith(f"{base}/target?t=")
    capture = Capture()
    capture.add("url", resp.url)
    capture.add("headers", dict(resp.headers))
    capture.add("repr", repr(resp))
    assert_no_spelling(capture)


async def test_an_off_origin_redirect_is_redacted_down_the_exception_chain(
    hostile: tuple[Hostile, str],
) -> None:
    _, base = hostile
    async with AccuticsClient(TOKEN, base_url=base, retry=None) as client:
        with pytest.raises(UnsafeURLError) as info:
            await client.get("redirect/off")
    chain: list[BaseException] = []
    item: BaseException | None = info.value
    while item is not None:
        chain.append(item)
        item = item.__cause__ or item.__context__
    capture = Capture()
    for exc in chain:
        capture.add("str", str(exc))
        capture.add("repr", repr(exc))
        capture.add("notes", getattr(exc, "__notes__", []))
    assert_no_spelling(capture)


async def test_a_json_escaped_token_in_an_error_message_is_redacted(
    hostile: tuple[Hostile, str],
) -> None:
    _, base = hostile
    async with AccuticsClient(TOKEN, base_url=base, retry=None) as client:
        with pytest.raises(APIError) as info:
            await client.get("error")
    assert "[redacted]" in str(info.value)
    capture = Capture()
    capture.add_exception(info.value)
    assert_no_spelling(capture)


def locals_shown(exc: BaseException) -> str:
    """The traceback as pytest ``-l`` or rich ``show_locals`` would print it: locals included."""
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


@pytest.mark.parametrize("case", ["refused", "api_error", "off_origin"])
async def test_tracebacks_that_show_locals_hold_no_bearer_header(
    hostile: tuple[Hostile, str], case: str
) -> None:
    _, base = hostile
    if case == "refused":
        base = f"http://127.0.0.1:{free_port()}/v1"
    path = {"refused": "records", "api_error": "error", "off_origin": "redirect/off"}[case]
    expected = {"refused": TransportError, "api_error": APIError, "off_origin": UnsafeURLError}
    async with AccuticsClient(TOKEN, base_url=base, retry=None) as client:
        with pytest.raises(expected[case]) as info:
            await client.get(path)
    shown = locals_shown(info.value)
    assert "headers = " in shown  # the send path's locals are in it
    assert "Bearer" not in shown
    assert TOKEN not in decoded(shown)


async def test_accutics_get_prints_no_spelling_of_the_token(
    hostile: tuple[Hostile, str],
) -> None:
    _, base = hostile
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "accutics_async",
        "get",
        "records",
        env=cli_env(TOKEN, base),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    body = orjson.loads(out)
    assert body["data"][0]["note"] == "[redacted]"
    capture = Capture()
    capture.add("stdout", out)
    capture.add("stderr", err)
    assert_no_spelling(capture)


async def test_a_refreshed_token_is_redacted_in_every_spelling_too() -> None:
    # A token provider hands out a second token after a 401; the server echoes both.
    old, new = TOKEN, TOKEN.replace("reliability", "refreshed-one")

    async def echo(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {new}":
            return web.json_response({"error": {"code": "unauthorized"}}, status=401)
        record = f'{{"id": "1", "a": "{percent(old)}", "b": "{json_escaped(new)}", "c": "{new}"}}'
        return web.Response(body=f'{{"data": {record}}}'.encode(), content_type="application/json")

    tokens = iter([old, new])
    app = web.Application()
    app.router.add_get("/v1/echo", echo)
    async with serve_app(app) as base:
        client = AccuticsClient(lambda: next(tokens), base_url=f"{base}/v1")
        async with client:
            resp = await client.get("echo")
        assert client.stats["token_refreshes"] == 1
    assert resp.data == {"id": "1", "a": "[redacted]", "b": "[redacted]", "c": "[redacted]"}
