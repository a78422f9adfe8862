"""The fake server's ``limit=`` mode against the client's limiter (counts, not timings)."""

from __future__ import annotations

import pytest

from accutics_async import AccuticsClient, ConfigurationError, RetryPolicy
from accutics_async.testing import FakeAccuticsServer, FaultSpec


async def test_limit_mode_answers_429_with_the_time_to_the_next_slot() -> None:
    async with FakeAccuticsServer(records=10, faults="limit=1/min:burst=2") as server:
        async with AccuticsClient(
            token=server.token, base_url=server.base_url, retry=None, adaptive=False
        ) as client:
            await client.get("/records")
            await client.get("/records")
            headers = {"Authorization": f"Bearer {server.token}"}
            session = client._transport._get_session()
            async with session.get(server.url("/records"), headers=headers) as resp:
                assert resp.status == 429
                assert 0 < float(resp.headers["Retry-After"]) <= 60.0
        assert server.stats.faults["limit"] == 1
        assert server.request_log[-1].fault == "limit"


def test_limit_is_part_of_the_fault_syntax() -> None:
    spec = FaultSpec.parse("limit=50/s:int,500=0.1")
    assert spec.limit is not None
    assert spec.limit.whole_seconds
    assert FaultSpec.parse(str(spec)) == spec


async def test_adaptive_walk_completes_against_a_limit_and_counts_its_decisions() -> None:
    async with FakeAccuticsServer(records=400, faults="limit=200/s:burst=2") as server:
        async with AccuticsClient(
            token=server.token, base_url=server.base_url, retry=RetryPolicy(max_attempts=20)
        ) as client:
            items = await client.paginate("/records", page_size=10, concurrency=8).collect()
        assert len(items) == 400
        limited = server.stats.faults["limit"]
        assert limited >= 1  # eight at once exceed a bucket of two
        assert client.stats["retries.status_429"] == limited
        assert client.stats["limiter.rate_cut"] >= 1
        assert client.stats["limiter.pause"] >= 1
        # Adaptation sends far fewer requests into the limit than one per page.
        assert limited < 40


async def test_a_fixed_rate_limit_under_the_servers_gets_no_429() -> None:
    # The client spaces its requests at 1/20 s; the server allows 100/s. Its
    # bucket of 3 absorbs sends that a loaded machine delays and then bunches.
    async with FakeAccuticsServer(records=100, faults="limit=100/s:burst=3") as server:
        async with AccuticsClient(
            token=server.token, base_url=server.base_url, rate_limit=20, retry=None
        ) as client:
            items = await client.paginate("/records", page_size=10, concurrency=4).collect()
        assert len(items) == 100
        assert server.stats.faults["limit"] == 0


@pytest.mark.parametrize("bad", [0, -1, float("inf"), "10", True])
def test_bad_rate_limit_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="rate_limit"):
        AccuticsClient(token="t" * 20, base_url="http://127.0.0.1:1/v1", rate_limit=bad)  # type: ignore[arg-type]
