"""Every request on the wire is one observed attempt: token refreshes and cut-off hooks."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from accutics_async import (
    AccuticsClient,
    RequestEvent,
    ResponseEvent,
    TransportError,
)
from accutics_async.testing import FakeAccuticsServer


async def test_the_resend_after_a_401_is_an_attempt_of_its_own() -> None:
    requests: list[RequestEvent] = []
    responses: list[ResponseEvent] = []
    async with FakeAccuticsServer(records=5) as server:
        tokens = iter(["stale-token-0123456789", server.token])

        def provider() -> str:
            return next(tokens)

        async with AccuticsClient(
            provider,
            base_url=server.base_url,
            event_hooks={"request": [requests.append], "response": [responses.append]},
        ) as client:
            await client.get("records")
    assert client.stats["token_refreshes"] == 1
    assert client.stats["attempts"] == 2
    assert [e.attempt for e in requests] == [1, 2]
    assert [(e.attempt, e.status) for e in responses] == [(1, 401), (2, 200)]
    assert all(server.token not in repr(e) for e in [*requests, *responses])


async def test_a_deadline_during_a_slow_request_hook_leaves_no_coroutine_behind() -> None:
    async def slow_hook(event: RequestEvent) -> None:
        await asyncio.sleep(5)

    async with FakeAccuticsServer(records=5) as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with AccuticsClient(
                server.token, base_url=server.base_url, event_hooks={"request": [slow_hook]}
            ) as client:
                with pytest.raises(TransportError) as raised:
                    await client.get("records", deadline=0.1)
            kind = raised.value.kind
            del raised  # its traceback would keep the frames, and what they hold, alive
            gc.collect()
    assert kind == "deadline"
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert server.stats.total_requests == 0
