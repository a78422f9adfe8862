"""AsyncPager against the fake server: both styles, fan-out, drift, checkpoints, cleanup."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_support import serve_app

from accutics_async import (
    AccuticsClient,
    AsyncPager,
    ConfigurationError,
    DecodeError,
    F,
    PaginationError,
    Record,
    RetryPolicy,
    UnsafeURLError,
)
from accutics_async.testing import FakeAccuticsServer

T = TypeVar("T")
N = 237  # not a multiple of any page size used below


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=N, seed=7, max_page_size=50) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:
        yield c


def client_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks other than this test's and the server's connection handlers."""
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and not t.done() and "RequestHandler" not in repr(t)
    ]


async def settled_client_tasks() -> list[asyncio.Task[Any]]:
    """Client tasks still pending after the loop had a few turns to finalise generators."""
    for _ in range(20):
        if not client_tasks():
            break
        await asyncio.sleep(0)
    return client_tasks()


async def all_ids(client: AccuticsClient, path: str, **kw: Any) -> list[str]:
    return [item["id"] async for item in client.paginate(path, **kw)]


@pytest.fixture
async def expected(client: AccuticsClient, server: FakeAccuticsServer) -> list[str]:
    # One big page straight from the server is the reference order.
    resp = await client.get(server.page_endpoint, params={"page_size": 50, "page": 1})
    assert resp.meta.pagination is not None
    total = resp.meta.pagination.total_items  # type: ignore[union-attr]
    assert total == N
    ids: list[str] = []
    page = 1
    while len(ids) < N:
        resp = await client.get(server.page_endpoint, params={"page_size": 50, "page": page})
        ids.extend(item["id"] for item in resp.data)
        page += 1
    return ids


@pytest.mark.parametrize("style", ["page", "cursor"])
@pytest.mark.parametrize("page_size", [1, 10, 50, 500])
async def test_every_record_once_in_order(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    expected: list[str],
    style: str,
    page_size: int,
) -> None:
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    if page_size == 1 and style == "page":
        page_size = 3  # 237 single-record pages add time, not coverage
    assert await all_ids(client, path, page_size=page_size) == expected


@pytest.mark.parametrize("concurrency", [2, 8])
async def test_concurrency_gives_the_sequential_sequence(
    client: AccuticsClient, server: FakeAccuticsServer, expected: list[str], concurrency: int
) -> None:
    ids = await all_ids(client, server.page_endpoint, page_size=10, concurrency=concurrency)
    assert ids == expected


def test_concurrency_over_max_concurrency_is_refused_not_capped(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        client.paginate(server.page_endpoint, concurrency=client.max_concurrency + 1)


async def test_concurrency_is_ignored_for_cursor_endpoints(
    client: AccuticsClient, server: FakeAccuticsServer, expected: list[str]
) -> None:
    ids = await all_ids(client, server.cursor_endpoint, page_size=10, concurrency=8)
    assert ids == expected


@pytest.mark.parametrize("style", ["page", "cursor"])
async def test_search_sort_and_page_size_are_kept_across_next(
    client: AccuticsClient, server: FakeAccuticsServer, style: str
) -> None:
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    search = F("input_medium").eq("email", "social")
    pager = client.paginate(path, search=search, sort=["-created_at", "id"], page_size=7)
    pages = [page async for page in pager.pages()]
    items = [item for page in pages for item in page.items]
    assert len(pages) > 2
    assert all(len(page.items) == 7 for page in pages[:-1])
    assert {item["input_medium"] for item in items} <= {"email", "social"}
    stamps = [item["created_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
    everything = await client.paginate(path, page_size=50).collect()
    assert len(items) == sum(1 for r in everything if r["input_medium"] in ("email", "social"))


async def test_model_items_are_structured(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    records = await client.paginate(server.page_endpoint, model=Record, page_size=25).collect()
    assert len(records) == N
    first = records[0]
    assert isinstance(first, Record)
    assert first.created_at is not None
    assert first.created_at.tzinfo is not None
    assert "input_medium" in first.inputs
    assert "output_utm_campaign" in first.outputs


@attrs.frozen
class Stamped(Generic[T]):
    id: str
    created_at: T


@attrs.frozen
class Tagged(Stamped[datetime], Generic[T]):
    """Reuses T: Stamped's is datetime here, Tagged's own is what Tagged[...] says."""

    input_tags: list[T] = attrs.field(factory=list)


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_generic_model_is_structured_in_every_mode(
    client: AccuticsClient, server: FakeAccuticsServer, concurrency: int
) -> None:
    pager = client.paginate(
        server.page_endpoint, model=Tagged[str], page_size=25, concurrency=concurrency
    )
    items = await pager.collect()
    pages = [
        page
        async for page in client.paginate(
            server.page_endpoint, model=Tagged[str], page_size=25, concurrency=concurrency
        ).pages()
    ]
    assert [item for page in pages for item in page.items] == items
    assert len(items) == N
    assert all(isinstance(item.created_at, datetime) for item in items)
    assert all(isinstance(tag, str) for item in items for tag in item.input_tags)
    assert any(item.input_tags for item in items)


async def test_collect_limit_fetches_at_most_one_page_past(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    before = server.stats.total_requests
    got = await client.paginate(server.page_endpoint, page_size=10, concurrency=8).collect(limit=15)
    assert len(got) == 15
    assert server.stats.total_requests - before <= 2 + 1


async def test_max_items_and_max_pages(client: AccuticsClient, server: FakeAccuticsServer) -> None:
    assert (
        len(await client.paginate(server.cursor_endpoint, page_size=10, max_items=25).collect())
        == 25
    )
    pages = [
        p async for p in client.paginate(server.page_endpoint, page_size=10, max_pages=3).pages()
    ]
    assert len(pages) == 3


@pytest.mark.parametrize("endpoint", ["page", "cursor"])
async def test_pages_with_max_items_zero_hand_out_and_fetch_nothing(
    client: AccuticsClient, server: FakeAccuticsServer, endpoint: str
) -> None:
    # As items() does. On 9979521 pages() fetched page 1, handed it out
    # empty, and its checkpoint then resumed at page 2: page 1 was lost.
    path = server.page_endpoint if endpoint == "page" else server.cursor_endpoint
    pager = client.paginate(path, page_size=20, max_items=0)
    before = server.stats.total_requests
    assert [page async for page in pager.pages()] == []
    assert server.stats.total_requests == before
    resumed = client.paginate(path, page_size=20, resume=pager.checkpoint)
    rest = [item["id"] async for item in resumed]
    everything = [item["id"] async for item in client.paginate(path, page_size=20)]
    assert rest == everything


async def test_first_page(client: AccuticsClient, server: FakeAccuticsServer) -> None:
    page = await client.paginate(server.page_endpoint, page_size=20).first_page()
    assert len(page.items) == 20
    assert page.number == 1
    assert page.meta.endpoint


# -- checkpoints ---------------------------------------------------------


async def head_and_checkpoint(
    pager: AsyncPager[Any], count: int
) -> tuple[list[str], dict[str, Any]]:
    """The ids of ``pager``'s first ``count`` items and its checkpoint then; it is closed."""
    head: list[str] = []
    if count:
        async for item in pager:
            head.append(item["id"])
            if len(head) == count:
                break
    checkpoint = pager.checkpoint
    await pager.aclose()
    return head, checkpoint


@pytest.mark.parametrize("stop_at", [60, 130])
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("style", ["page", "cursor"])
async def test_a_checkpoint_resumes_when_the_server_caps_the_page_size(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    expected: list[str],
    style: str,
    concurrency: int,
    stop_at: int,
) -> None:
    # API_BASICS.md: a page size over the maximum is limited to the maximum.
    # The pages after the first then carry the server's size (its links, or
    # the plan built from items_per_page), and on 9979521 a checkpoint past
    # page 1 was refused as "another listing" on resume with the same arguments.
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    asked = server.max_page_size * 5
    pager = client.paginate(path, page_size=asked, concurrency=concurrency)
    head, checkpoint = await head_and_checkpoint(pager, stop_at)
    assert checkpoint["served_size"] == server.max_page_size
    resumed = client.paginate(path, page_size=asked, concurrency=concurrency, resume=checkpoint)
    assert head + [item["id"] async for item in resumed] == expected


def test_a_checkpoint_s_page_size_is_still_the_walk_s_or_the_one_served() -> None:
    from accutics_async._sansio.paging import position_from_checkpoint
    from accutics_async._sansio.query import Query

    base = "https://api.example.test/v1"
    query = Query.of("/records", page_size=500)
    checkpoint = {
        "version": 1,
        "fingerprint": query.fingerprint(base),
        "done": False,
        "url": f"{base}/records?page_size=50&page=3",
        "page": 3,
        "skip": 7,
        "yielded": 107,
    }

    def resume(**changes: Any) -> Any:
        return position_from_checkpoint(
            {**checkpoint, **changes},
            fp=query.fingerprint(base),
            base_url=base,
            start_url=query.first_url(base),
        )

    assert resume(served_size=50).request.url.endswith("page_size=50&page=3")
    for bad in (
        {},
        {"served_size": 40},
        {"served_size": 50, "url": f"{base}/records?page_size=600&page=3"},
    ):
        with pytest.raises(PaginationError, match="another listing"):
            resume(**bad)
    with pytest.raises(PaginationError, match="served_size"):
        resume(served_size="50")


@settings(
    max_examples=15,
    # The fixtures are the same server and client for every example, on purpose.
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(k=st.integers(min_value=0, max_value=N), concurrency=st.sampled_from([1, 4]))
async def test_resume_after_any_item_gives_the_exact_remainder(
    client: AccuticsClient,
    server: FakeAccuticsServer,
    expected: list[str],
    k: int,
    concurrency: int,
) -> None:
    for path in (server.page_endpoint, server.cursor_endpoint):
        pager = client.paginate(path, page_size=20, concurrency=concurrency)
        head, checkpoint = await head_and_checkpoint(pager, k)
        resumed = client.paginate(path, page_size=20, concurrency=concurrency, resume=checkpoint)
        tail = [item["id"] async for item in resumed]
        assert head + tail == expected
        assert resumed.checkpoint["done"] is True


async def test_pages_checkpoint_counts_a_handed_out_page_as_done(
    client: AccuticsClient, server: FakeAccuticsServer, expected: list[str]
) -> None:
    pager = client.paginate(server.cursor_endpoint, page_size=30)
    seen: list[str] = []
    async for page in pager.pages():
        seen.extend(item["id"] for item in page.items)
        break
    rest = [
        i["id"]
        async for i in client.paginate(
            server.cursor_endpoint, page_size=30, resume=pager.checkpoint
        )
    ]
    assert seen + rest == expected


async def test_checkpoint_is_json_and_refused_for_another_query(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    import json

    pager = client.paginate(server.page_endpoint, page_size=10, sort="id")
    async for _ in pager:
        break
    checkpoint = json.loads(json.dumps(pager.checkpoint))
    with pytest.raises(PaginationError):
        client.paginate(server.page_endpoint, page_size=10, sort="-id", resume=checkpoint)
    with pytest.raises(PaginationError):
        client.paginate(server.page_endpoint, page_size=11, sort="id", resume=checkpoint)
    with pytest.raises(PaginationError):
        client.paginate(server.cursor_endpoint, page_size=10, sort="id", resume=checkpoint)


async def test_finished_checkpoint_resumes_nothing(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    pager = client.paginate(server.cursor_endpoint, page_size=50)
    assert len(await pager.collect()) == N
    resumed = client.paginate(server.cursor_endpoint, page_size=50, resume=pager.checkpoint)
    before = server.stats.total_requests
    assert await resumed.collect() == []
    assert server.stats.total_requests == before


# -- drift -----------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("style", ["page", "cursor"])
async def test_records_inserted_mid_walk_end_up_exactly_once(
    client: AccuticsClient, server: FakeAccuticsServer, concurrency: int, style: str
) -> None:
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    pager = client.paginate(path, page_size=10, concurrency=concurrency)
    ids: list[str] = []
    async for item in pager:
        ids.append(item["id"])
        if len(ids) == 15:
            server.insert_records(30)
    assert len(ids) == len(set(ids))
    final = await all_ids(client, path, page_size=50)
    assert ids == final
    assert len(final) == N + 30


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_typed_items_end_up_exactly_once_when_records_are_inserted_mid_walk(
    client: AccuticsClient, server: FakeAccuticsServer, concurrency: int
) -> None:
    before = await all_ids(client, server.page_endpoint, page_size=50)
    pager = client.paginate(
        server.page_endpoint, page_size=10, concurrency=concurrency, model=Record
    )
    ids: list[str] = []
    async for record in pager:
        assert isinstance(record, Record)
        ids.append(record.id)
        if len(ids) == 15:
            # Before everything: the pages after shift, so records come again.
            server.insert_records(7, at=0)
    assert ids == before  # each once; the new ones are behind the walk


@attrs.frozen
class Numbered:
    id: str
    n: int


def _numbered_listing(
    pages: int, size: int, bad: tuple[int, int]
) -> tuple[web.Application, dict[str, bool]]:
    """Page-number pages of ``size`` items; item ``bad[1]`` of page ``bad[0]`` does not fit
    until the state returned says ``fixed``."""
    state = {"fixed": False}

    async def listing(request: web.Request) -> web.Response:
        number = int(request.query.get("page", "1"))
        data: list[dict[str, Any]] = [
            {"id": f"{number}-{i}", "n": number * 1000 + i} for i in range(size)
        ]
        if number == bad[0] and not state["fixed"]:
            data[bad[1]]["n"] = "not a number"
        following = f"/v1/things?page={number + 1}" if number < pages else None
        pagination = {"next": following, "items_per_page": size, "total_items": pages * size}
        return web.json_response({"data": data, "meta": {"pagination": pagination}})

    app = web.Application()
    app.router.add_get("/v1/things", listing)
    return app, state


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_typed_walk_hands_out_what_fits_and_resumes_at_the_item_that_did_not(
    concurrency: int,
) -> None:
    app, state = _numbered_listing(pages=5, size=40, bad=(3, 17))
    async with serve_app(app) as origin, AccuticsClient("t" * 20, base_url=f"{origin}/v1") as c:
        pager = c.paginate("things", model=Numbered, concurrency=concurrency)
        got: list[int] = []
        with pytest.raises(DecodeError, match="item 17 does not fit Numbered: field 'n'"):
            async for item in pager:
                got.append(item.n)
        assert got == [p * 1000 + i for p in (1, 2) for i in range(40)] + [
            3000 + i for i in range(17)
        ]
        state["fixed"] = True
        resumed = c.paginate(
            "things", model=Numbered, concurrency=concurrency, resume=pager.checkpoint
        )
        rest = [item.n async for item in resumed]
    assert got + rest == [p * 1000 + i for p in range(1, 6) for i in range(40)]


# -- safety ----------------------------------------------------------------


def _listener(seen: list[str]) -> web.Application:
    async def record(request: web.Request) -> web.Response:
        seen.append(f"{request.path_qs} auth={request.headers.get('Authorization')}")
        return web.json_response({"data": [], "meta": {}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


async def test_foreign_next_link_is_never_requested(server: FakeAccuticsServer) -> None:
    seen: list[str] = []
    async with serve_app(_listener(seen)) as foreign:

        async def evil(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "data": [{"id": "1"}],
                    "meta": {"pagination": {"next": f"{foreign}/v1/steal", "next_cursor": "x"}},
                }
            )

        app = web.Application()
        app.router.add_get("/v1/records", evil)
        async with (
            serve_app(app) as origin,
            AccuticsClient(token="secret-token", base_url=f"{origin}/v1") as c,
        ):
            pager = c.paginate("records")
            got = []
            with pytest.raises(UnsafeURLError):
                async for item in pager:
                    got.append(item)
            assert got == [{"id": "1"}]
    assert seen == []


async def test_a_cycle_of_next_links_raises() -> None:
    hits = {"n": 0}

    async def cyc(request: web.Request) -> web.Response:
        hits["n"] += 1
        page = int(request.query.get("p", "1"))
        nxt = {1: 2, 2: 3, 3: 1}[page]
        return web.json_response(
            {
                "data": [{"id": page}],
                "meta": {"pagination": {"next": f"?p={nxt}", "total_items": 3}},
            }
        )

    app = web.Application()
    app.router.add_get("/v1/r", cyc)
    async with (
        serve_app(app) as origin,
        AccuticsClient(token="test-token-cycle", base_url=f"{origin}/v1") as c,
    ):
        got: list[Any] = []
        with pytest.raises(PaginationError, match="loop"):
            async for item in c.paginate("r?p=1"):
                got.append(item["id"])
        assert got == [1, 2, 3]
        assert hits["n"] == 3


# -- cleanup and memory ------------------------------------------------------


async def test_break_cancels_in_flight_fetches(server: FakeAccuticsServer) -> None:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:
        pager = c.paginate(server.page_endpoint, page_size=5, concurrency=8)
        async for _ in pager:
            break
        await pager.aclose()
        # The loop finalises the abandoned generator on its next turns.
        assert await settled_client_tasks() == []
        connector = c._transport._session.connector  # type: ignore[union-attr]
        assert connector is not None
        assert not connector._acquired


async def test_cancelling_the_consumer_leaves_no_pending_tasks(server: FakeAccuticsServer) -> None:
    server.faults = "latency=20ms"  # keep fetches in flight when the cancel lands
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:

        async def consume() -> None:
            async for _ in c.paginate(server.page_endpoint, page_size=5, concurrency=8):
                await asyncio.sleep(0)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await settled_client_tasks() == []
    gc.collect()


async def test_a_stalled_consumer_stalls_the_fetching(server: FakeAccuticsServer) -> None:
    async with AccuticsClient(
        token=server.token, base_url=server.base_url, retry=RetryPolicy()
    ) as c:
        pager = c.paginate(server.page_endpoint, page_size=5, concurrency=4)
        before = server.stats.total_requests
        async for _ in pager:
            await asyncio.sleep(0.2)  # the consumer stalls on its first item
            break
        fetched = server.stats.total_requests - before
        await pager.aclose()
    # The first page plus a window of four planned pages, never the rest.
    assert fetched <= 1 + 4
