"""Pipelining: the next page's request goes out as soon as this page's ``meta`` is read.

A walk waiting for a page reads its ``meta`` before its data, and starts what
follows (the read-ahead, or the fan-out after the first page) before the data
is decoded, so the server works on the next page meanwhile. It is kept only if
the decoded page reads the same; never more than one page ahead of the page
being handed out, never past what is wanted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web
from loopback_support import serve_app

from accutics_async import AccuticsClient, AsyncPager, PageEvent, RequestEvent, RetryPolicy
from accutics_async._sansio.query import Query
from accutics_async.testing import FakeAccuticsServer

N = 95  # ten pages of 10 at page_size=10, the last one short


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=N, seed=5, max_page_size=50) as srv:
        yield srv


class Log:
    """The order of the client's events: ``("request", n)`` per attempt, ``("page", number)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.requests = 0

    def request(self, event: RequestEvent) -> None:
        self.requests += 1
        self.events.append(("request", self.requests))

    def page(self, event: PageEvent) -> None:
        self.events.append(("page", event.number))

    def requests_before_page(self, number: int) -> int:
        """How many requests had started when page ``number`` was handed over decoded."""
        index = self.events.index(("page", number))
        return sum(1 for kind, _ in self.events[:index] if kind == "request")


def logged_client(server: FakeAccuticsServer, log: Log, **kwargs: Any) -> AccuticsClient:
    hooks: Any = {"request": [log.request], "page": [log.page]}
    return AccuticsClient(token=server.token, base_url=server.base_url, event_hooks=hooks, **kwargs)


@pytest.mark.parametrize("style", ["page", "cursor"])
async def test_the_next_request_is_out_before_this_page_is_decoded(
    server: FakeAccuticsServer, style: str
) -> None:
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    log = Log()
    async with logged_client(server, log) as client:
        ids = [item["id"] async for item in client.paginate(path, page_size=10)]
        everything = [r["id"] async for r in client.paginate(path, page_size=50)]
    assert ids == everything
    # Page n is decoded after page n + 1 was requested; the last has no next.
    assert [log.requests_before_page(n) for n in range(1, 11)] == [*range(2, 11), 10]
    assert log.requests == 10 + 2


async def test_a_listing_with_no_total_pipelines_its_first_page_too() -> None:
    # Page numbers and next links, but no totals: the fan-out has nothing to
    # plan, so the walk reads ahead page by page, from the first page on.
    async def handle(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        more = page < 4
        pagination = {
            "page": page,
            "items_per_page": 10,
            "total_items": None,
            "next": f"http://{request.host}/v1/open?page={page + 1}&page_size=10" if more else None,
        }
        data = [{"id": f"{page}-{i}"} for i in range(10)]
        return web.json_response({"data": data, "meta": {"pagination": pagination}})

    app = web.Application()
    app.router.add_get("/v1/open", handle)
    log = Log()
    hooks: Any = {"request": [log.request], "page": [log.page]}
    async with (
        serve_app(app) as origin,
        AccuticsClient(token="t" * 20, base_url=f"{origin}/v1", event_hooks=hooks) as client,
    ):
        ids = [item["id"] async for item in client.paginate("open", page_size=10, concurrency=3)]
    assert ids == [f"{page}-{i}" for page in range(1, 5) for i in range(10)]
    # Page n is decoded after page n + 1 was requested; the last has no next.
    assert [log.requests_before_page(n) for n in range(1, 5)] == [2, 3, 4, 4]
    assert log.requests == 4


async def test_the_fan_out_starts_from_the_first_page_s_meta(server: FakeAccuticsServer) -> None:
    log = Log()
    async with logged_client(server, log) as client:
        pager = client.paginate(server.page_endpoint, page_size=10, concurrency=4)
        ids = [item["id"] async for item in pager]
    assert len(ids) == len(set(ids)) == N
    # Page 1 and the first four planned pages were requested before page 1 was decoded.
    assert log.requests_before_page(1) == 5
    assert log.requests == 10


class NoEarlyMeta:
    """The client as a ``PageSource`` that never tells the meta early, as one of a user's may not:
    the fan-out then starts once the first page is decoded."""

    def __init__(self, client: AccuticsClient) -> None:
        self._client = client
        self.base_url = client.base_url
        self.max_concurrency = client.max_concurrency
        self.observer = client.observer

    @property
    def redactor(self) -> Any:
        return self._client.redactor

    async def request_page(self, url: str, *, on_meta: Any = None, turn: Any = None) -> Any:
        return await self._client.request_page(url, turn=turn)


@pytest.mark.parametrize("start", ["early", "late"])
@pytest.mark.parametrize("style", ["items", "pages"])
async def test_the_fan_out_s_next_pages_are_out_before_a_page_is_handed_out(
    server: FakeAccuticsServer, style: str, start: str
) -> None:
    # A consumer that never awaits gives the event loop no turn, and a page
    # the fan-out starts sends its request only in a turn. The walk takes
    # one before it hands a page out, so the window stays full while the
    # consumer reads: on 1530bba the pages started stayed unsent until it
    # awaited (a late start sent none while page 1 was held).
    log = Log()
    held: list[int] = []
    async with logged_client(server, log) as client:
        source: Any = client if start == "early" else NoEarlyMeta(client)
        query = Query.of(server.page_endpoint, page_size=10)
        pager: AsyncPager[Any] = AsyncPager(source, query, concurrency=3)
        if style == "pages":
            async for page in pager.pages():
                held.append(log.requests)
                assert len(page.items) == (10 if page.number < 10 else 5)
        else:
            async for index, _item in aenumerate(pager):
                if index % 10 == 0:
                    held.append(log.requests)
    # Holding page k: pages 1 to k, and the three of the window after them.
    assert held == [min(k + 3, 10) for k in range(1, 11)]


async def aenumerate(items: AsyncIterable[Any]) -> AsyncIterator[tuple[int, Any]]:
    index = 0
    async for item in items:
        yield index, item
        index += 1


async def test_a_consumer_still_reading_gets_no_second_page_ahead(
    server: FakeAccuticsServer,
) -> None:
    log = Log()
    async with logged_client(server, log) as client:
        seen = 0
        async for _item in client.paginate(server.cursor_endpoint, page_size=10):
            seen += 1
            for _ in range(20):  # the page read ahead arrives meanwhile
                await asyncio.sleep(0)
            pages_reached = (seen - 1) // 10 + 1
            assert log.requests <= pages_reached + 1
    assert seen == N


@pytest.mark.parametrize("limit", [10, 15, 20, 25])
async def test_nothing_is_started_early_past_what_is_wanted(
    server: FakeAccuticsServer, limit: int
) -> None:
    log = Log()
    async with logged_client(server, log) as client:
        got = await client.paginate(server.cursor_endpoint, page_size=10).collect(limit)
    assert len(got) == limit
    assert log.requests == -(-limit // 10)


# -- a page that reads differently once decoded ------------------------------


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1; yield its ``/v1`` base URL."""
    async with serve_app(app, shutdown=0.1) as origin:
        yield f"{origin}/v1"


def _page(name: str, following: str | None, base: str) -> dict[str, Any]:
    link = None if following is None else f"{base}/pages/{following}"
    return {
        "data": [{"id": f"{name}-{i}"} for i in range(3)],
        "meta": {"pagination": {"next_cursor": following, "next": link, "items_per_page": 3}},
    }


async def test_an_early_request_from_a_page_that_is_then_refused_is_dropped() -> None:
    """The first answer for p1 names p2 next but its data is broken; the retry names p3.

    p2 was started from the broken answer's meta and must be dropped, and
    forgotten by the loop guard too: p3 then links to p2, which the walk must
    still fetch and hand out, once.
    """
    requested: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        requested.append(name)
        base = f"http://{request.host}/v1"
        if name == "p1" and requested.count("p1") == 1:
            good = orjson.dumps(_page("p1", "p2", base))
            broken = good.replace(b'"p1-2"}]', b'"p1-2"},]')  # not JSON any more
            return web.Response(body=broken, content_type="application/json")
        following = {"p1": "p3", "p3": "p2", "p2": None}[name]
        return web.json_response(_page(name, following, base))

    app = web.Application()
    app.router.add_get("/v1/pages/{name}", handle)
    retry = RetryPolicy(max_attempts=2, backoff=0.001, max_backoff=0.001)
    async with (
        served(app) as base,
        AccuticsClient(token="t" * 20, base_url=base, retry=retry) as client,
    ):
        pager = client.paginate("pages/p1")
        ids = [item["id"] async for item in pager]
        checkpoint = pager.checkpoint
    assert ids == [f"{page}-{i}" for page in ("p1", "p3", "p2") for i in range(3)]
    assert checkpoint["done"] is True
    assert requested.count("p1") == 2
    assert requested.count("p3") == 1


async def test_a_fan_out_over_records_with_unhashable_ids_hands_out_every_page() -> None:
    """Ids that are lists cannot be compared as set members: the drift check skips them."""

    async def handle(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        base = f"http://{request.host}/v1/items?page_size=3&page="
        pagination = {
            "next": f"{base}{page + 1}" if page < 3 else None,
            "current": f"{base}{page}",
            "items_per_page": 3,
            "total_items": 9,
        }
        data = [{"id": [page, i]} for i in range(3)]
        return web.json_response({"data": data, "meta": {"pagination": pagination}})

    app = web.Application()
    app.router.add_get("/v1/items", handle)
    async with served(app) as base, AccuticsClient(token="t" * 20, base_url=base) as client:
        pager = client.paginate("items", page_size=3, concurrency=3)
        ids = [item["id"] async for item in pager]
    assert ids == [[page, i] for page in (1, 2, 3) for i in range(3)]


# -- a consumer cancelled while it holds an item --------------------------------


class HeldPages:
    """A cursor listing of ten pages of 3 whose pages from ``hold_from`` on wait for ``release``."""

    def __init__(self, hold_from: int) -> None:
        self.hold_from = hold_from
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/v1/items", self.handle)

    @asynccontextmanager
    async def served(self) -> AsyncIterator[str]:
        """:func:`served`, releasing the held pages before the server stops."""
        async with served(self.app) as base:
            try:
                yield base
            finally:
                self.release.set()

    async def handle(self, request: web.Request) -> web.Response:
        page = int(request.query.get("cursor", "1"))
        if page >= self.hold_from:
            await self.release.wait()
        following = page + 1 if page < 10 else None
        link = None if following is None else f"http://{request.host}/v1/items?cursor={following}"
        pagination = {"next_cursor": following, "next": link, "items_per_page": 3}
        data = [{"id": f"{page}-{i}"} for i in range(3)]
        return web.json_response({"data": data, "meta": {"pagination": pagination}})


def fetches_in_flight() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "AsyncPager._fetch"  # type: ignore[union-attr]
    ]


@pytest.mark.parametrize("holding_page", [1, 2, 3])
async def test_cancelling_a_consumer_that_holds_an_item_cancels_the_page_in_flight(
    holding_page: int,
) -> None:
    held = HeldPages(hold_from=holding_page + 1)  # the page read ahead never comes
    async with held.served() as base, AccuticsClient(token="t" * 20, base_url=base) as client:
        items = client.paginate("items").__aiter__()  # kept alive, as a traceback would
        holding = asyncio.Event()

        async def consume() -> None:
            async for item in items:
                if item["id"] == f"{holding_page}-0":
                    holding.set()
                    await asyncio.Event().wait()

        task = asyncio.create_task(consume())
        await holding.wait()
        assert len(fetches_in_flight()) == 1  # the page after the one held
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if not fetches_in_flight():
                break
            await asyncio.sleep(0)
        assert fetches_in_flight() == []
        await items.aclose()  # type: ignore[attr-defined]


async def test_a_walk_another_task_goes_on_with_fetches_the_cancelled_page_itself() -> None:
    held = HeldPages(hold_from=2)
    async with held.served() as base, AccuticsClient(token="t" * 20, base_url=base) as client:
        items = client.paginate("items").__aiter__()
        got: list[str] = []
        holding = asyncio.Event()

        async def first() -> None:
            async for item in items:
                got.append(item["id"])
                holding.set()
                await asyncio.Event().wait()  # holds item 1; page 2 is in flight

        task = asyncio.create_task(first())
        await holding.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.release.set()
        got += [item["id"] async for item in items]
    assert got == [f"{page}-{i}" for page in range(1, 11) for i in range(3)]


class SecondPageLog(Log):
    """A :class:`Log` that also tells when page 2 is decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.second_page = asyncio.Event()

    def page(self, event: PageEvent) -> None:
        super().page(event)
        if event.number == 2:
            self.second_page.set()


def flat_app(meta_read_late: bool) -> web.Application:
    """Ten pages of ten records of strings and numbers only, which the collector does not track."""

    async def handle(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        base = f"http://{request.host}/v1/flat"
        pagination = {
            "page": page,
            "items_per_page": 10,
            "total_items": 100,
            "total_pages": 10,
            "next": f"{base}?page={page + 1}&page_size=10" if page < 10 else None,
        }
        data = [{"id": f"{page}-{i}", "name": "x", "count": i} for i in range(10)]
        extra = {"links": {}} if meta_read_late else {}
        return web.json_response({"data": data, "meta": {"pagination": pagination}, **extra})

    app = web.Application()
    app.router.add_get("/v1/flat", handle)
    return app


@asynccontextmanager
async def listing(
    records: str, meta_read_late: bool, log: Log
) -> AsyncIterator[tuple[AccuticsClient, str, asyncio.Event]]:
    """A client, the path of a ten-page listing of ``records``, and an event set once five
    of its pages are answered (``meta_read_late``: flat records only)."""
    answered = asyncio.Event()
    hooks: Any = {"request": [log.request], "page": [log.page]}
    if records == "nested":
        async with FakeAccuticsServer(records=N, seed=5, max_page_size=50) as srv:
            srv.after_pages(5, answered.set)
            async with AccuticsClient(
                token=srv.token, base_url=srv.base_url, event_hooks=hooks
            ) as client:
                yield client, srv.page_endpoint, answered
        return
    app = flat_app(meta_read_late)
    count = 0

    @web.middleware
    async def count_answers(request: web.Request, handler: Any) -> web.StreamResponse:
        nonlocal count
        response = await handler(request)
        count += 1
        if count == 5:
            answered.set()
        return response

    app.middlewares.append(count_answers)
    async with (
        serve_app(app) as origin,
        AccuticsClient(token="t" * 20, base_url=f"{origin}/v1", event_hooks=hooks) as client,
    ):
        yield client, "flat", answered


# Nested records are the fake server's (objects and lists inside, which the
# collector tracks); flat ones are strings and numbers only. "links" after
# "meta" hides the meta from the early read (it is no longer one JSON value up
# to the closing brace): the fan-out then starts only once page 1 is decoded,
# the other path to the same decision.
@pytest.mark.parametrize(
    ("records", "meta_read_late"),
    [("nested", False), ("flat", False), ("flat", True)],
    ids=["nested", "flat-meta-read-early", "flat-meta-read-late"],
)
async def test_fan_out_pages_wait_as_bytes_but_the_one_next_in_line(
    records: str, meta_read_late: bool
) -> None:
    log = SecondPageLog()

    def decoded() -> list[int]:
        return [number for kind, number in log.events if kind == "page"]

    async with listing(records, meta_read_late, log) as (client, path, answered):
        items = aiter(client.paginate(path, page_size=10, concurrency=4))
        first = await anext(items)

        # Page 1 and the four planned pages after it are answered, page 2 is
        # decoded as it lands ...
        await asyncio.wait_for(answered.wait(), timeout=30)
        await asyncio.wait_for(log.second_page.wait(), timeout=30)
        for _ in range(50):  # ... and the bytes of pages 3 to 5 are read by the client
            await asyncio.sleep(0)
        # ... yet only page 1, which the consumer holds, and page 2, next in
        # line, are decoded: pages 3 to 5 wait as bytes.
        assert decoded() == [1, 2]
        rest = [item async for item in items]
    ids = [first["id"]] + [item["id"] for item in rest]
    assert len(ids) == len(set(ids)) == (N if records == "nested" else 100)
    assert decoded() == list(range(1, 11))


async def test_a_deadline_is_not_used_up_waiting_for_a_slow_consumer(
    server: FakeAccuticsServer,
) -> None:
    # Each page's call has 0.3 s; the consumer spends 0.4 s on every page.
    retry = RetryPolicy(deadline=0.3)
    async with logged_client(server, Log(), retry=retry) as client:
        pages = 0
        async for _page in client.paginate(
            server.page_endpoint, page_size=30, concurrency=3
        ).pages():
            pages += 1
            await asyncio.sleep(0.4)
    assert pages == 4
