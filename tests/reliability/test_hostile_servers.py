"""Hostile or broken servers: oversized, endless, compressed, slow and malformed answers.

Each one is a small aiohttp.web app on 127.0.0.1 written here. Whatever it
sends, the client answers with a typed error (``DecodeError`` with context,
``TransportError``), in bounded time and bounded memory, never a bare
exception.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from loopback_support import serve_app
from reliability_support import FAST_RETRY, HOSTILE_TOKEN, Capture

from accutics_async import (
    AccuticsClient,
    AccuticsError,
    DecodeError,
    RetryPolicy,
    ServerError,
    TransportError,
)

MB = 1024 * 1024
CAP = 1 * MB
# A body far over the cap, and what compresses it into a few kilobytes.
ZEROS = 64 * MB
GZIP_BOMB = gzip.compress(b"0" * ZEROS, compresslevel=9)


def _pagination(base: str, page: int, **changes: Any) -> dict[str, Any]:
    meta = {
        "first": f"{base}?page=1",
        "previous": None if page == 1 else f"{base}?page={page - 1}",
        "current": f"{base}?page={page}",
        "next": f"{base}?page={page + 1}",
        "last": f"{base}?page=3",
        "items_per_page": 2,
        "total_items": 6,
        "page_param": "page",
        "size_param": "page_size",
    }
    meta.update(changes)
    return meta


# name -> (body, the DecodeError kind expected)
BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid_utf8_in_data": (b'{"data":[{"id":"\xff\xfe"}],"meta":{}}', "not_json"),
    "invalid_utf8_in_meta": (b'{"data":[],"meta":{"endpoint":"\xc3\x28"}}', "not_json"),
    "lone_surrogate": (b'{"data":["\\ud800"],"meta":{}}', "not_json"),
    "html_with_200": (b"<html><body>Welcome to nginx!</body></html>", "not_json"),
    "empty_200": (b"", "not_json"),
    "number_overflows_double": (b'{"data":[1e999],"meta":{}}', "not_json"),
    "deeply_nested_data": (b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not_json"),
    "deeply_nested_meta": (
        b'{"data":[],"meta":{"x":' + b"[" * 1010 + b"]" * 1010 + b"}}",
        "not_envelope",
    ),
    "duplicate_data": (b'{"data":[1],"data":[2],"meta":{}}', "duplicate_key"),
    "duplicate_meta": (b'{"meta":{},"data":[1],"meta":{"endpoint":"x"}}', "duplicate_key"),
    "duplicate_in_meta": (b'{"data":[],"meta":{"endpoint":"a","endpoint":"b"}}', "duplicate_key"),
    "duplicate_next": (
        b'{"data":[],"meta":{"pagination":{"current":"x","next":"http://127.0.0.1:1/steal",'
        b'"next":null}}}',
        "duplicate_key",
    ),
    "duplicate_next_escaped": (
        b'{"data":[],"meta":{"pagination":{"next":null,"n\\u0065xt":"http://127.0.0.1:1/x"}}}',
        "duplicate_key",
    ),
    "duplicate_cursor_meta_first": (
        b'{"meta":{"pagination":{"next_cursor":"a","next_cursor":null}},"data":[]}',
        "duplicate_key",
    ),
    "duplicate_with_extra_member": (
        b'{"data":[],"links":{},"meta":{"pagination":{"next":"a","next":null}}}',
        "duplicate_key",
    ),
    "not_an_envelope": (b"[1, 2, 3]", "not_envelope"),
    "no_data": (b'{"meta":{"endpoint":"x"}}', "not_envelope"),
    "meta_is_text": (b'{"data":[],"meta":"x"}', "bad_meta"),
    "endpoint_is_list": (b'{"data":[],"meta":{"endpoint":[]}}', "bad_meta"),
    "pagination_is_list": (b'{"data":[],"meta":{"pagination":[]}}', "bad_meta"),
    "next_is_number": (b'{"data":[],"meta":{"pagination":{"next":5}}}', "bad_meta"),
    "next_is_object": (b'{"data":[],"meta":{"pagination":{"next":{"url":"x"}}}}', "bad_meta"),
    "total_items_is_text": (b'{"data":[],"meta":{"pagination":{"total_items":"12"}}}', "bad_meta"),
    "total_items_huge": (
        b'{"data":[],"meta":{"pagination":{"total_items":123456789012345678901234567890}}}',
        "bad_meta",
    ),
    "items_per_page_is_bool": (
        b'{"data":[],"meta":{"pagination":{"items_per_page":true}}}',
        "bad_meta",
    ),
    "next_cursor_is_object": (
        b'{"data":[],"meta":{"pagination":{"next_cursor":{"a":1}}}}',
        "bad_meta",
    ),
    "cursor_param_is_number": (
        b'{"data":[],"meta":{"pagination":{"next_cursor":"abc","cursor_param":7}}}',
        "bad_meta",
    ),
}


def hostile_app(sent: dict[str, int]) -> web.Application:
    """The hostile routes; ``sent["endless"]`` counts what the endless stream wrote."""
    app = web.Application()
    routes = web.RouteTableDef()

    @routes.get("/big")
    async def big(request: web.Request) -> web.StreamResponse:
        # Streamed with a declared length, so the server side holds 64 KiB at a
        # time: tracemalloc counts the whole process, and a 5 MB body (plus
        # the copy 3.10's asyncio makes of it) would be measured as ours.
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 5 * MB
        await resp.prepare(request)
        try:
            for _ in range(5 * 16):
                await resp.write(b"x" * (64 * 1024))
        except (ConnectionError, RuntimeError):
            pass
        return resp

    @routes.get("/declared-10gb")
    async def declared(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = 10 * 1024 * MB
        await resp.prepare(request)
        await resp.write(b'{"data":[' + b"0," * 512)
        await asyncio.sleep(30)  # never sends the rest: the client must not wait for it
        return resp

    @routes.get("/endless-chunks")
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * (64 * 1024)
        try:
            while sent["endless"] < 512 * MB:  # bounded, in case the client kept reading
                await resp.write(chunk)
                sent["endless"] += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what we want
        return resp

    @routes.get("/gzip-bomb")
    async def bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=GZIP_BOMB,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    @routes.get("/gzip-bomb-chunked")
    async def bomb_chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for start in range(0, len(GZIP_BOMB), 4096):
                await resp.write(GZIP_BOMB[start : start + 4096])
        except (ConnectionError, RuntimeError):
            pass
        return resp

    @routes.get("/slow-drip")
    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = 1000
        await resp.prepare(request)
        for _ in range(200):  # 20 s at most, far beyond the client's timeout
            await resp.write(b" ")
            await asyncio.sleep(0.1)
        return resp

    @routes.get("/slow-headers")
    async def slow_headers(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(20)
        return web.json_response({"data": []})

    @routes.get("/body/{name}")
    async def body(request: web.Request) -> web.StreamResponse:
        payload, _ = BAD_BODIES[request.match_info["name"]]
        return web.Response(body=payload, content_type="application/json")

    @routes.get("/echo/{status}")
    async def echo(request: web.Request) -> web.StreamResponse:
        # A debug page that shows the request headers back, token included.
        seen = request.headers.get("Authorization", "")
        status = int(request.match_info["status"])
        if status == 200:
            doc: dict[str, Any] = {"data": {"you_sent": seen}, "meta": {"endpoint": seen}}
        else:
            doc = {"error": {"code": "debug", "message": f"bad header {seen}", "data": {"h": seen}}}
        return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")

    @routes.get("/listing")
    async def listing(request: web.Request) -> web.StreamResponse:
        # Claims 10**15 records: a client that plans every page runs out of memory.
        base = str(request.url.with_query(None))
        page = int(request.query.get("page", "1"))
        meta = _pagination(base, page, items_per_page=1, total_items=10**15, last=f"{base}?page=1")
        doc = {"data": [{"id": page}], "meta": {"endpoint": "x", "pagination": meta}}
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    @routes.get("/bad-second-page")
    async def bad_second_page(request: web.Request) -> web.StreamResponse:
        base = str(request.url.with_query(None))
        page = int(request.query.get("page", "1"))
        meta = _pagination(base, page) if page == 1 else _pagination(base, page, next=7)
        doc = {"data": [{"id": 2 * page - 1}, {"id": 2 * page}], "meta": {"pagination": meta}}
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    app.add_routes(routes)
    return app


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[str, dict[str, int]]]:
    sent = {"endless": 0}
    async with serve_app(hostile_app(sent)) as url:
        yield url, sent


def _client(base_url: str, **kwargs: Any) -> AccuticsClient:
    kwargs.setdefault("retry", None)
    return AccuticsClient(HOSTILE_TOKEN, base_url=base_url, **kwargs)


@pytest.mark.parametrize(
    "path", ["/big", "/endless-chunks", "/gzip-bomb", "/gzip-bomb-chunked"], ids=str.strip
)
async def test_a_body_over_the_cap_is_a_typed_error_in_bounded_memory(
    hostile: tuple[str, dict[str, int]], path: str
) -> None:
    base, sent = hostile
    async with _client(base, max_response_bytes=CAP) as client:
        tracemalloc.start()
        try:
            with pytest.raises(DecodeError) as info:
                await client.get(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.kind == "too_large"
    assert "max_response_bytes" in str(info.value)
    # Nowhere near the 64 MB the bombs inflate to, or the 512 MB the stream offers.
    assert peak < 12 * MB, peak
    await asyncio.sleep(0.1)
    assert sent["endless"] < 32 * MB  # the endless stream was cut off, not drained


async def test_a_declared_10gb_body_fails_at_once_with_the_default_cap(
    hostile: tuple[str, dict[str, int]],
) -> None:
    base, _ = hostile
    async with _client(base) as client:  # default max_response_bytes: 64 MiB
        started = time.monotonic()
        with pytest.raises(DecodeError) as info:
            await client.get("/declared-10gb")
    assert info.value.kind == "too_large"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/slow-drip", "/slow-headers"])
async def test_a_slow_server_hits_the_timeout(
    hostile: tuple[str, dict[str, int]], path: str
) -> None:
    base, _ = hostile
    policy = RetryPolicy(max_attempts=2, backoff=0.01, max_backoff=0.01)
    async with _client(base, timeout=0.4, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            await client.get(path)
        elapsed = time.monotonic() - started
        assert client.stats["attempts"] == 2  # retried, like any timeout
    assert 0.7 < elapsed < 3, elapsed


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
async def test_a_malformed_body_is_a_decode_error_with_context(
    hostile: tuple[str, dict[str, int]], name: str
) -> None:
    base, _ = hostile
    _, kind = BAD_BODIES[name]
    async with _client(base) as client:
        with pytest.raises(DecodeError) as info:
            await client.get(f"/body/{name}")
    exc = info.value
    assert exc.kind == kind, str(exc)
    assert exc.status == 200
    assert f"{base}/body/{name}" in str(exc)  # which request
    if kind in ("duplicate_key", "bad_meta"):
        assert "meta" in str(exc) or "top level" in str(exc)  # which part
    assert len(exc.body_start) <= 203


async def test_only_a_body_that_may_be_cut_short_is_retried(
    hostile: tuple[str, dict[str, int]],
) -> None:
    base, _ = hostile
    async with _client(base, retry=FAST_RETRY) as client:
        for name, expected_attempts in (("html_with_200", 8), ("duplicate_next", 1)):
            client.stats.clear()
            with pytest.raises(DecodeError):
                await client.get(f"/body/{name}")
            assert client.stats["attempts"] == expected_attempts, name


async def test_a_huge_total_items_does_not_plan_every_page(
    hostile: tuple[str, dict[str, int]],
) -> None:
    base, _ = hostile
    async with _client(base) as client:
        tracemalloc.start()
        try:
            seen = []
            async for item in client.paginate("/listing", concurrency=8):
                seen.append(item["id"])
                if len(seen) == 20:
                    break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert seen == list(range(1, 21))
    assert peak < 4 * MB, peak


async def test_a_malformed_later_page_stops_the_pager_with_a_decode_error(
    hostile: tuple[str, dict[str, int]],
) -> None:
    base, _ = hostile
    async with _client(base) as client:
        pager = client.paginate("/bad-second-page")
        seen = []
        with pytest.raises(DecodeError) as info:
            async for item in pager:
                seen.append(item["id"])
    assert seen == [1, 2]  # the good page was handed out first
    assert info.value.kind == "bad_meta"
    assert pager.checkpoint["url"].endswith("page=2")


@pytest.mark.parametrize("status", [200, 500])
async def test_a_server_echoing_the_token_does_not_plant_it_in_results_or_errors(
    hostile: tuple[str, dict[str, int]], status: int
) -> None:
    base, _ = hostile
    capture = Capture()
    async with _client(base) as client:
        if status == 200:
            resp = await client.get(f"/echo/{status}")
            capture.add("data", resp.data)
            capture.add("meta", resp.meta)
            assert "[redacted]" in resp.data["you_sent"]
        else:
            with pytest.raises(ServerError) as info:
                await client.get(f"/echo/{status}")
            capture.add_exception(info.value)
            assert "[redacted]" in str(info.value)
    capture.assert_clean(HOSTILE_TOKEN)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc %s\r\n\r\n",  # a status line that is not one, echoing the request
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Bad: \x00%s\r\n\r\nhello",
        b"garbage %s\r\n\r\n",
    ],
)
async def test_a_broken_http_answer_is_a_transport_error_without_the_token(
    answer: bytes,
) -> None:
    """Also checks the exception chain: aiohttp's ClientResponseError repr shows request headers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        auth = next(
            (line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization")),
            b"",
        )
        writer.write(answer.replace(b"%s", auth))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    capture = Capture()
    try:
        port = server.sockets[0].getsockname()[1]
        async with _client(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(AccuticsError) as info:
                await client.get("/x")
        capture.add_exception(info.value)
        assert isinstance(info.value, (TransportError, DecodeError))
    finally:
        server.close()
        await server.wait_closed()
    capture.assert_clean(HOSTILE_TOKEN)
