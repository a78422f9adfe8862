"""The fan-out's turns: a planned page is decoded only once it is next in line.

Fake fetches, no I/O: each records when its answer "landed" and when it was
decoded, so the order is exact.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aioresponses import aioresponses

from accutics_async import AccuticsClient, ResponseEvent, RetryPolicy
from accutics_async._fanout import FanOut, Turn
from accutics_async._sansio.paging import PageRequest

BASE = "https://api.example.test/v1"
PAGE = {"data": [{"id": "1"}], "meta": {"endpoint": "records.index"}}


class Fetches:
    def __init__(self) -> None:
        self.landed: list[int] = []
        self.decoded: list[int] = []

    async def fetch(self, request: PageRequest, number: int, turn: Turn) -> int:
        self.landed.append(number)  # the answer's bytes are in
        await turn.wait()
        self.decoded.append(number)
        return number


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def plan(count: int) -> list[PageRequest]:
    return [PageRequest(f"{BASE}/r?page={n}", n) for n in range(2, 2 + count)]


async def test_only_the_page_next_in_line_is_decoded_as_it_lands() -> None:
    fetches = Fetches()
    fan = FanOut(fetches.fetch, plan(6), width=3)
    await settle()
    # The consumer holds the page before the plan's first: that one is next.
    assert fetches.landed == [2, 3, 4]
    assert fetches.decoded == [2]
    assert await fan.next() == 2
    await settle()
    # Taking page 2 frees a place in the window (page 5 lands) and makes page 3
    # next in line; pages 4 and 5 wait as bytes.
    assert fetches.landed == [2, 3, 4, 5]
    assert fetches.decoded == [2, 3]
    assert await fan.next() == 3
    await settle()
    assert fetches.decoded == [2, 3, 4]
    assert [await fan.next() for _ in range(4)] == [4, 5, 6, 7]
    assert fetches.decoded == [2, 3, 4, 5, 6, 7]
    assert await fan.next() is None


async def test_a_window_of_one_decodes_the_page_that_takes_the_freed_place() -> None:
    fetches = Fetches()
    fan = FanOut(fetches.fetch, plan(3), width=1)
    await settle()
    assert fetches.decoded == [2]
    assert await fan.next() == 2
    await settle()
    assert fetches.decoded == [2, 3]  # it came next in line as it was started
    assert [await fan.next() for _ in range(2)] == [3, 4]
    assert await fan.next() is None


async def test_stopping_cancels_the_pages_waiting_for_their_turn() -> None:
    fetches = Fetches()
    fan = FanOut(fetches.fetch, plan(4), width=2)
    await settle()
    await fan.aclose()
    assert fetches.landed == [2, 3]
    assert fetches.decoded == [2]  # next in line; page 3 was cancelled waiting for its turn
    assert fan.exhausted


async def test_a_turn_given_first_costs_no_wait() -> None:
    turn = Turn()
    turn.give()
    turn.give()  # giving twice is harmless
    assert await turn.wait() == 0.0
    assert turn.waited == 0.0


async def test_the_wait_for_a_turn_is_not_the_request_s_duration(
    mock_http: aioresponses,
) -> None:
    responses: list[ResponseEvent] = []
    mock_http.get(f"{BASE}/records?page=2", payload=PAGE)
    hooks: Any = {"response": [responses.append]}
    async with AccuticsClient(token="t0ken-for-turns", base_url=BASE, event_hooks=hooks) as c:
        turn = Turn()
        began = time.perf_counter()
        call = asyncio.ensure_future(c.request_page(f"{BASE}/records?page=2", turn=turn))
        await settle()
        assert len(mock_http.requests) == 1  # sent and answered ...
        assert not call.done()  # ... but not decoded: it waits for its turn
        await asyncio.sleep(0.05)
        turn.give()
        resp = await call
        ended = time.perf_counter()
    assert resp.data == PAGE["data"]
    assert turn.waited > 0
    [event] = responses
    assert event.status == 200
    # The attempt ran within [began, ended] and its wait is taken out.
    assert 0 <= event.elapsed_s <= (ended - began) - turn.waited


async def test_an_error_is_retried_at_once_not_when_the_consumer_asks(
    mock_http: aioresponses, clock: Any
) -> None:
    url = f"{BASE}/records?page=3"
    mock_http.get(url, status=503, payload={"error": {"code": "unavailable", "message": "busy"}})
    mock_http.get(url, payload=PAGE)
    async with AccuticsClient(token="t0ken-for-turns", base_url=BASE) as c:
        turn = Turn()
        call = asyncio.ensure_future(c.request_page(url, turn=turn))
        for _ in range(200):  # bounded: a few turns of the loop per step
            await asyncio.sleep(0)
        # The 503 was decoded and retried while the turn was still to come;
        # only the success waits for it.
        [(_, sent)] = mock_http.requests.items()
        assert len(sent) == 2
        assert len(clock.sleeps) == 1
        assert not call.done()
        turn.give()
        assert (await call).data == PAGE["data"]


async def test_a_call_with_a_deadline_does_not_wait_for_its_turn(mock_http: aioresponses) -> None:
    url = f"{BASE}/records?page=4"
    mock_http.get(url, payload=PAGE)
    retry = RetryPolicy(deadline=60)
    async with AccuticsClient(token="t0ken-for-turns", base_url=BASE, retry=retry) as c:
        turn = Turn()  # never given
        resp = await asyncio.wait_for(c.request_page(url, turn=turn), timeout=30)
    assert resp.data == PAGE["data"]
    assert turn.waited == 0.0
