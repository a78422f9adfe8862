"""The client's promises at the edges, against tiny aiohttp.web servers on 127.0.0.1.

Arrival times are read on the same monotonic clock in this process, and
compared with the pause the server asked for, not with wall-clock limits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import web
from loopback_support import serve_app

from accutics_async import AccuticsClient, RetryPolicy, ServerError, Timeout, TransportError
from accutics_async.testing import FakeAccuticsServer, FaultSpec

OK = {"data": {"id": "r1"}, "meta": {"endpoint": "records.show"}}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a server answering every path with ``handler``; return its ``/v1`` base URL."""
    async with AsyncExitStack() as servers:

        async def start(handler: Handler) -> str:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            origin = await servers.enter_async_context(serve_app(app, shutdown=0.1))
            return f"{origin}/v1"

        yield start


async def test_no_queued_call_slips_past_a_429_pause(serve: Any) -> None:
    arrivals: list[float] = []
    paused_at: list[float] = []
    sent_429 = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            paused_at.append(time.monotonic())
            sent_429.set()
            return web.json_response(
                {"error": {"code": "rate_limited", "message": "slow down"}},
                status=429,
                headers={"Retry-After": "1"},
            )
        await sent_429.wait()
        return web.json_response(OK)

    base = await serve(handler)
    async with AccuticsClient("t" * 20, base_url=base, max_concurrency=4) as client:
        results = await asyncio.gather(*(client.get("/records/1") for _ in range(12)))
    assert all(r.status == 200 for r in results)
    assert len(arrivals) == 13  # twelve calls, one of them retried once
    # The three sent together with the first were on the wire already; every
    # later request (eight queued for a slot, and the retry) waited out the pause.
    later = arrivals[4:]
    assert len(later) == 9
    assert min(later) >= paused_at[0] + 1.0 - 0.01


async def test_deadline_cuts_off_an_attempt_in_progress(serve: Any) -> None:
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response(OK)

    base = await serve(handler)
    async with AccuticsClient("t" * 20, base_url=base) as client:
        with pytest.raises(TransportError) as info:
            await client.get("/records/1", deadline=0.2)
        assert info.value.kind == "deadline"
    async with AccuticsClient(
        "t" * 20, base_url=base, timeout=0.2, retry=RetryPolicy(deadline=0.5)
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.get("/records/1")
        assert info.value.kind == "deadline"
    never.set()


async def _drip(request: web.Request) -> web.StreamResponse:
    # A slow but steady body: a byte every 40 ms, 0.6 s in all.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    body = b'{"data": {"id": "r1"}, "meta": {}}'
    step = max(1, len(body) // 15)
    for start in range(0, len(body), step):
        await response.write(body[start : start + step])
        await asyncio.sleep(0.04)
    await response.write_eof()
    return response


async def test_a_slow_but_moving_body_passes_with_a_read_timeout(serve: Any) -> None:
    base = await serve(_drip)
    async with AccuticsClient(
        "t" * 20, base_url=base, retry=None, timeout=Timeout(total=None, sock_read=2.0)
    ) as client:
        resp = await client.get("/records/1")
        assert resp.data == {"id": "r1"}
        with pytest.raises(TransportError) as info:
            await client.get("/records/1", timeout=0.2)
        assert info.value.kind == "timeout"


async def test_a_token_provider_is_asked_again_after_a_401(serve: Any) -> None:
    fresh = "fresh-token-0123456789"
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] != f"Bearer {fresh}":
            return web.json_response(
                {"error": {"code": "token_expired", "message": "expired"}}, status=401
            )
        return web.json_response(OK)

    tokens = iter(["stale-token-0123456789", fresh])
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return next(tokens)

    base = await serve(handler)
    async with AccuticsClient(provider, base_url=base) as client:
        resp = await client.get("/records/1")
        assert resp.status == 200
        assert calls == 2
        assert seen == ["Bearer stale-token-0123456789", f"Bearer {fresh}"]
        assert client.stats["token_refreshes"] == 1
        assert fresh not in repr(client)


async def test_a_deadline_cutting_an_attempt_off_keeps_the_last_failure_as_its_cause(
    serve: Any,
) -> None:
    answered: list[int] = []
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if not answered:
            answered.append(503)
            return web.json_response({"error": {"code": "unavailable", "message": "x"}}, status=503)
        await never.wait()  # the retry hangs until the deadline cuts it off
        return web.json_response(OK)

    base = await serve(handler)
    policy = RetryPolicy(max_attempts=10, backoff=0.001, deadline=0.5)
    async with AccuticsClient("t" * 20, base_url=base, retry=policy) as client:
        with pytest.raises(TransportError) as info:
            await client.get("/records/1")
    never.set()
    assert info.value.kind == "deadline"
    assert "cut off" in str(info.value)
    # Why the call needed a retry at all: the 503, not lost behind the deadline.
    assert isinstance(info.value.__cause__, ServerError)
    assert info.value.__cause__.status == 503


async def test_a_delete_answered_2xx_with_its_body_cut_short_is_not_sent_again() -> None:
    """The 200 says the record is gone: a second DELETE would answer 404, for a delete done."""
    cut: list[str] = []

    def first_of(method: str) -> Callable[[str, str], bool]:
        def pick(request_method: str, path: str) -> bool:
            if request_method == method and method not in cut:
                cut.append(method)
                return True
            return False

        return pick

    async with FakeAccuticsServer(records=3) as server:
        rid = server.all_records()[0]["id"]
        async with AccuticsClient(server.token, base_url=server.base_url) as client:
            server.faults = FaultSpec(truncate=1.0, predicate=first_of("DELETE"))
            with pytest.raises(TransportError) as info:
                await client.delete(f"/records/{rid}")
            assert info.value.kind == "truncated"
            assert info.value.status == 200
            assert "answered 200" in str(info.value)
            assert server.get_record(rid) is None
            assert [r.method for r in server.request_log] == ["DELETE"]
            # A GET cut short the same way is sent again: its repeat answers the same.
            server.faults = FaultSpec(truncate=1.0, predicate=first_of("GET"))
            resp = await client.get("/records")
            assert resp.status == 200
            assert [r.method for r in server.request_log] == ["DELETE", "GET", "GET"]
