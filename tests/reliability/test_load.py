"""Load and leaks: the concurrency cap under 2,000 callers, cancelled pagers, file descriptors."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import warnings
from collections import Counter
from typing import Any

import pytest
from reliability_support import FAST_RETRY, report

from accutics_async import AccuticsClient
from accutics_async.testing import FakeAccuticsServer


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _client_tasks() -> list[asyncio.Task[Any]]:
    """Unfinished tasks except this test's own and the fake server's connection handlers."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and not task.get_coro().__qualname__.startswith("RequestHandler.")  # type: ignore[union-attr]
    ]


def _acquired(client: AccuticsClient) -> int:
    """Connections the client's connector has handed out and not yet taken back."""
    session = client._transport._session
    assert session is not None
    acquired = session.connector._acquired  # type: ignore[union-attr]
    return len(acquired)


async def _settle() -> None:
    # Async generators left by `break` are closed by tasks the event loop
    # schedules when they are collected; give those a few turns.
    for _ in range(5):
        gc.collect()
        await asyncio.sleep(0.01)


async def test_2000_concurrent_gets_never_exceed_max_concurrency(record_property: Any) -> None:
    async with FakeAccuticsServer(records=2000, seed=5, faults="latency=1ms") as server:
        ids = [record["id"] for record in server.all_records()]
        async with AccuticsClient(
            server.token, base_url=server.base_url, max_concurrency=8
        ) as client:
            responses = await asyncio.gather(*(client.get(("records", rid)) for rid in ids))
        assert [resp.data["id"] for resp in responses] == ids
        assert all(resp.status == 200 for resp in responses)
        stats = server.stats
        assert stats.total_requests == 2000
        # Counted by the server: the cap is reached and never passed.
        assert 2 <= stats.peak_in_flight <= 8
    report(
        record_property,
        "load",
        {
            "concurrent_gets": len(ids),
            "succeeded": len(responses),
            "peak_in_flight": stats.peak_in_flight,
        },
    )


async def test_200_pagers_stopped_at_random_points_leave_nothing_behind(
    record_property: Any,
) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    rng = random.Random(2024)
    how: Counter[str] = Counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with (
                FakeAccuticsServer(records=3000, seed=3, faults="latency=1ms,jitter=2ms") as server,
                AccuticsClient(server.token, base_url=server.base_url, max_concurrency=8) as client,
            ):

                async def walk(mode: int, path: str, size: int, width: int, stop: int) -> None:
                    pager = client.paginate(path, page_size=size, concurrency=width)
                    if mode == 0:  # break out of the item loop
                        seen = 0
                        async for _ in pager:
                            seen += 1
                            if seen == stop:
                                break
                    elif mode == 1:  # break out of pages()
                        async for page in pager.pages():
                            if page.number and page.number * size >= stop:
                                break
                    elif mode == 2:
                        await pager.collect(limit=stop)
                    else:  # walk until the task is cancelled
                        async with pager:
                            async for _ in pager:
                                pass

                tasks = []
                for index in range(200):
                    mode = index % 4
                    style = rng.choice([server.page_endpoint, server.cursor_endpoint])
                    args = (rng.choice([10, 25, 50, 100]), rng.choice([1, 2, 4, 8]))
                    task = asyncio.create_task(walk(mode, style, *args, rng.randrange(1, 400)))
                    tasks.append(task)
                    # Every endless walk, and a third of the others, is cancelled at a
                    # random moment: before, during or after its first page.
                    if mode == 3 or rng.random() < 1 / 3:
                        loop.call_later(rng.uniform(0.0, 0.4), task.cancel)
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for result in results:
                    how["cancelled" if isinstance(result, asyncio.CancelledError) else "ended"] += 1
                    assert result is None or isinstance(result, asyncio.CancelledError)
                # A stopped pager's read-ahead request may already be on its way
                # (the server does not notice a client that left); let those land.
                # From then on the server is slow: a fetch left running by a
                # stopped pager would still be pending below, not quietly ending.
                await _settle()
                server.faults = "latency=5s"
                await _settle()
                assert _client_tasks() == []
                assert _acquired(client) == 0
                assert server.stats.in_flight == 0
                server.faults = None
                # Still fully usable afterwards.
                assert (await client.get(server.page_endpoint)).status == 200
                assert _acquired(client) == 0
            del tasks, results
            await _settle()
        assert [str(w.message) for w in caught] == []
        assert loop_errors == []
    finally:
        loop.set_exception_handler(previous_handler)
    assert how["cancelled"] >= 50
    report(record_property, "cancelled_pagers", {**how, "pending_tasks": 0, "acquired": 0})


@pytest.mark.parametrize("how", ["break", "pages_break", "aclose", "cancel", "cancel_held"])
async def test_a_pager_stopped_mid_fan_out_cancels_its_requests_at_once(how: str) -> None:
    """Pages in flight when the consumer stops are cancelled, not left to finish."""
    async with (
        FakeAccuticsServer(records=2000, seed=3, shutdown_timeout=0.1) as server,
        AccuticsClient(server.token, base_url=server.base_url, max_concurrency=8) as client,
    ):
        pager = client.paginate(server.page_endpoint, page_size=10, concurrency=8)

        stopped, finish = asyncio.Event(), asyncio.Event()

        async def consume() -> None:
            # Mostly no reference kept to the iterator, as in everyday code:
            # `break` drops it and the event loop closes it. "cancel_held"
            # keeps one (as `pages = pager.pages()` does), which a cancelled
            # task's traceback keeps alive: only the pager can stop its fetches.
            held = pager.pages() if how == "cancel_held" else None
            async for _ in held or (pager.pages() if how == "pages_break" else pager):
                # The fan-out's fetches are started but not yet sent: from
                # here on the server holds every request for 5 s.
                server.faults = "latency=5s"
                if how.startswith("cancel"):
                    await asyncio.sleep(10)
                elif how == "aclose":
                    await pager.aclose()
                break
            # The consumer lives on: its pager must not be waiting for that.
            stopped.set()
            await finish.wait()

        task = asyncio.create_task(consume())
        if how.startswith("cancel"):
            await asyncio.sleep(0.2)
            task.cancel()
        else:
            await stopped.wait()
        await _settle()
        if how.startswith("cancel"):  # it had 0.2 s to send them: they were in flight
            assert server.stats.total_requests > 1
        assert _client_tasks() == ([] if how.startswith("cancel") else [task])
        assert _acquired(client) == 0
        finish.set()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_walk_taken_over_after_its_reader_was_cancelled_loses_nothing(
    concurrency: int,
) -> None:
    """The pages the cancelled reader had in flight are fetched again by the next reader."""
    async with (
        FakeAccuticsServer(records=300, seed=3, faults="latency=2ms") as server,
        AccuticsClient(server.token, base_url=server.base_url) as client,
    ):
        expected = [record["id"] for record in server.all_records()]
        items = aiter(client.paginate(server.page_endpoint, page_size=10, concurrency=concurrency))
        got: list[str] = []
        holding = asyncio.Event()

        async def reader() -> None:
            async for item in items:
                got.append(item["id"])
                await asyncio.sleep(0)  # a consumer that awaits: the walk reads ahead
                if len(got) == 25:
                    holding.set()
                    await asyncio.sleep(10)  # cancelled here, holding item 25

        task = asyncio.create_task(reader())
        await holding.wait()
        await asyncio.sleep(0.01)  # the next pages are in flight
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async for item in items:
            got.append(item["id"])
        assert got == expected


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd (Linux)")
async def test_open_file_descriptors_stay_flat_over_10000_requests(record_property: Any) -> None:
    # Some dropped and truncated answers too, so broken connections are replaced all along.
    faults = "reset=0.01,truncate=0.01,500=0.01,seed=4"
    async with FakeAccuticsServer(records=1000, seed=4, faults=faults) as server:
        ids = [record["id"] for record in server.all_records()]

        async def burst(client: AccuticsClient, count: int) -> None:
            calls = (client.get(("records", ids[i % len(ids)])) for i in range(count))
            await asyncio.gather(*calls)

        async with AccuticsClient(
            server.token, base_url=server.base_url, retry=FAST_RETRY, max_concurrency=8
        ) as client:
            await burst(client, 200)  # the connection pool is open from here on
            before = open_fds()
            samples = []
            for _ in range(10):
                await burst(client, 1000)
                samples.append(open_fds())
        # Clients made and closed one after another give their descriptors back.
        for _ in range(20):
            async with AccuticsClient(server.token, base_url=server.base_url) as short:
                await burst(short, 5)
        await _settle()
        after_close = open_fds()
        requests = server.stats.total_requests
        faults_seen = dict(server.stats.faults)
    assert requests >= 10_000 + 200 + 100
    assert max(samples) <= before + 6, (before, samples)
    assert after_close <= before + 6
    report(
        record_property,
        "file_descriptors",
        {
            "requests": requests,
            "faults": faults_seen,
            "fds_before": before,
            "fds_during": samples,
            "fds_after_clients_closed": after_close,
        },
    )
