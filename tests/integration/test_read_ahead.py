"""Read-ahead: a sequential walk fetches the next page while the consumer reads this one.

The next page is started before a page is handed out (the walk gives the
request one event-loop turn to go out if the consumer never awaits); never
more than one page ahead, never a page the walk will not hand out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from accutics_async import AccuticsClient, ServerError
from accutics_async.testing import FakeAccuticsServer, FaultSpec

N = 95  # ten pages of 10 at page_size=10, the last one short


@pytest.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=N, seed=3, max_page_size=50) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:
        yield c


def requests(server: FakeAccuticsServer) -> int:
    return int(server.stats.total_requests)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("style", ["page", "cursor"])
async def test_the_next_page_is_fetched_while_an_awaiting_consumer_reads(
    client: AccuticsClient, server: FakeAccuticsServer, style: str
) -> None:
    path = server.page_endpoint if style == "page" else server.cursor_endpoint
    pager = client.paginate(path, page_size=10)
    before = requests(server)
    seen: list[Any] = []
    async for item in pager:
        seen.append(item["id"])
        await settle()  # the consumer awaits something per item
        pages_reached = (len(seen) - 1) // 10 + 1
        # The page after the one being read is already out.
        assert requests(server) - before == pages_reached + 1
        if len(seen) == 25:
            break
    await pager.aclose()
    await settle()
    assert requests(server) - before == 4
    resumed = client.paginate(path, page_size=10, resume=pager.checkpoint)
    rest = [item["id"] async for item in resumed]
    everything = [item["id"] async for item in client.paginate(path, page_size=10)]
    assert seen + rest == everything


async def test_a_consumer_that_never_awaits_gets_every_page_once(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    before = requests(server)
    seen = 0
    async for _item in client.paginate(server.cursor_endpoint, page_size=10):
        seen += 1
        assert requests(server) - before == (seen - 1) // 10 + 1
    assert seen == N


async def test_a_full_walk_makes_one_request_per_page(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    before = requests(server)
    pages = [page async for page in client.paginate(server.cursor_endpoint, page_size=10).pages()]
    assert len(pages) == 10
    assert [page.number for page in pages] == list(range(1, 11))
    assert requests(server) - before == 10


@pytest.mark.parametrize(("limit", "expected"), [(10, 1), (30, 3), (35, 4), (41, 5)])
async def test_no_read_ahead_past_what_is_wanted(
    client: AccuticsClient, server: FakeAccuticsServer, limit: int, expected: int
) -> None:
    before = requests(server)
    got = []
    async with client.paginate(server.page_endpoint, page_size=10, max_items=limit) as pager:
        async for item in pager:
            got.append(item)
            await settle()
    await settle()
    assert len(got) == limit
    assert requests(server) - before == expected


async def test_max_pages_bounds_the_read_ahead(
    client: AccuticsClient, server: FakeAccuticsServer
) -> None:
    before = requests(server)
    pages = []
    async for page in client.paginate(server.cursor_endpoint, page_size=10, max_pages=4).pages():
        pages.append(page)
        await settle()
    await settle()
    assert len(pages) == 4
    assert requests(server) - before == 4


async def test_a_failing_read_ahead_surfaces_where_its_page_starts(
    server: FakeAccuticsServer,
) -> None:
    async with AccuticsClient(token=server.token, base_url=server.base_url, retry=None) as client:
        pager = client.paginate(server.page_endpoint, page_size=10)
        got: list[Any] = []
        with pytest.raises(ServerError):
            async for item in pager:
                got.append(item["id"])
                if len(got) == 21:  # page 4 is being read ahead: make it fail
                    server.faults = FaultSpec(status=((500, 1.0),))
                await settle()
        assert len(got) == 30  # all of page 3, then the error where page 4 starts
        server.faults = None
        resumed = client.paginate(server.page_endpoint, page_size=10, resume=pager.checkpoint)
        rest = [item["id"] async for item in resumed]
    assert len(got) + len(rest) == N
