"""Fault injection, counters, request log and lifecycle of the fake server."""

from __future__ import annotations

import asyncio
import gc
import time

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async.testing import FakeAccuticsServer, FaultSpec
from accutics_async.testing._limit import LimitSpec

SPEC = (
    "500=0.05,502=0.02,503=0.02,429=0.05,reset=0.03,truncate=0.03,html=0.02,"
    "latency=20ms,jitter=10ms,retry_after=1"
)


def test_compact_spec_parses() -> None:
    spec = FaultSpec.parse(SPEC)
    assert dict(spec.status) == {500: 0.05, 502: 0.02, 503: 0.02, 429: 0.05}
    assert (spec.reset, spec.truncate, spec.html) == (0.03, 0.03, 0.02)
    assert (spec.latency, spec.jitter, spec.retry_after) == (0.02, 0.01, 1.0)
    assert spec.total_rate == pytest.approx(0.22)
    assert FaultSpec.parse(
        "429=5%, retry_after=0.05s, only=collections, skip_first=2, seed=9"
    ) == FaultSpec(
        status={429: 0.05},
        retry_after=0.05,
        only={"records.index", "records.cursor"},
        skip_first=2,
        seed=9,
    )
    assert FaultSpec.parse("") == FaultSpec()


@pytest.mark.parametrize(
    "text",
    [
        SPEC,
        "",
        "503=1,retry_after_503=0.5",
        "reset=0.5,only=records.show+writes",
        "latency=0.1,seed=-3",
        # ":g" printed these as 0.0166667/s (another rate), 2e+06/s and 1e-05
        # (neither parses back).
        "limit=1/min",
        "limit=2000000/s",
        "retry_after=0.00001",
        "429=1,retry_after=1234567",
    ],
)
def test_compact_spec_round_trips(text: str) -> None:
    spec = FaultSpec.parse(text)
    assert FaultSpec.parse(str(spec)) == spec


@given(
    rate=st.floats(min_value=1e-9, max_value=1.0),
    seconds=st.floats(min_value=1e-9, max_value=1e9),
    per_second=st.floats(min_value=1e-6, max_value=1e9),
)
def test_every_spec_reads_back_as_itself(rate: float, seconds: float, per_second: float) -> None:
    spec = FaultSpec(
        status={503: rate},
        latency=seconds,
        retry_after=seconds,
        limit=LimitSpec(per_second),
    )
    assert FaultSpec.parse(str(spec)) == spec


async def test_an_injected_retry_after_is_plain_seconds() -> None:
    async with (
        FakeAccuticsServer(records=1, faults="429=1,retry_after=1234567") as server,
        aiohttp.ClientSession() as session,
        session.get(server.url("/records")) as resp,
    ):
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1234567"  # was 1.23457e+06


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("500=0.6,503=0.6", "more than 1"),
        ("600=0.1", "between 400 and 599"),
        ("reset=2", "between 0 and 1"),
        ("latency=fast", "duration"),
        ("latency=-1", "duration"),
        ("boom=1", "unknown fault key"),
        ("reset", "key=value"),
        ("500=lots", "rate"),
        ("only=records.nope", "unknown endpoint"),
        ("seed=x", "integer"),
    ],
)
def test_bad_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSpec.parse(text)


async def outcomes(raw_client, server: FakeAccuticsServer, count: int) -> list[str]:
    """Send ``count`` sequential requests; return what each one got.

    Note: aiohttp retries an idempotent request once by itself when the
    server disconnects before answering (RFC 9112, 9.3.1), so a "reset"
    shows up here only when the retry is reset too.
    """
    seen = []
    for _ in range(count):
        try:
            async with raw_client.session.get(
                server.url(server.page_endpoint),
                params={"page_size": "5"},
                headers={"Authorization": f"Bearer {server.token}"},
            ) as response:
                await response.read()
                seen.append(str(response.status))
        except aiohttp.ClientPayloadError:
            seen.append("truncated")
        except aiohttp.ServerDisconnectedError:
            seen.append("dropped")
    return seen


async def test_faults_are_deterministic_for_a_seed(raw_client, fake_server) -> None:
    spec = "500=0.1,503=0.1,429=0.1,reset=0.1,truncate=0.1,html=0.1,retry_after=0"

    async def run(text: str) -> tuple[list[str], list[str | None]]:
        fake_server.faults = text  # setting a spec restarts its RNG
        fake_server.reset_stats()
        seen = await outcomes(raw_client, fake_server, 60)
        return seen, [entry.fault for entry in fake_server.request_log]

    first, first_faults = await run(spec)
    assert await run(spec) == (first, first_faults)
    assert {"500", "503", "429", "reset", "truncate", "html", None} <= set(first_faults)
    assert {"200", "500", "503", "429", "502", "truncated"} <= set(first)
    assert fake_server.stats.faults["reset"] == first_faults.count("reset")
    assert (await run(spec + ",seed=2"))[1] != first_faults


async def test_status_faults_are_error_envelopes(raw_client, fake_server) -> None:
    fake_server.faults = FaultSpec(status={503: 1.0})
    status, body = await raw_client.call("GET", fake_server.page_endpoint)
    assert status == 503
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["data"] == {"fault": "503"}
    assert body["meta"]["endpoint"] == "records.index"
    fake_server.faults = "500=1"
    assert (await raw_client.call("GET", fake_server.page_endpoint))[1]["error"]["code"] == (
        "internal_server_error"
    )


async def test_429_and_503_carry_retry_after(raw_client, fake_server) -> None:
    fake_server.faults = "429=1,retry_after=0.05"
    async with raw_client.session.get(fake_server.url("/records")) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "0.05"
        assert (await response.json())["error"]["code"] == "too_many_requests"
    fake_server.faults = "503=1"
    async with raw_client.session.get(fake_server.url("/records")) as response:
        assert "Retry-After" not in response.headers
    fake_server.faults = "503=1,retry_after_503=2"
    async with raw_client.session.get(fake_server.url("/records")) as response:
        assert response.headers["Retry-After"] == "2"


async def test_dropped_connection(raw_client, fake_server) -> None:
    fake_server.faults = "reset=1"
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw_client.call("GET", fake_server.page_endpoint)
    entry = fake_server.request_log[-1]
    assert (entry.fault, entry.status) == ("reset", None)
    fake_server.faults = None
    assert (await raw_client.call("GET", fake_server.page_endpoint))[0] == 200


async def test_truncated_body(raw_client, fake_server) -> None:
    fake_server.faults = "truncate=1"
    async with raw_client.session.get(
        fake_server.url("/records"), headers={"Authorization": f"Bearer {fake_server.token}"}
    ) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 1000
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert fake_server.stats.faults["truncate"] == 1


async def test_html_proxy_page(raw_client, fake_server) -> None:
    fake_server.faults = "html=1"
    async with raw_client.session.get(fake_server.url("/records")) as response:
        assert response.status == 502
        assert response.content_type == "text/html"
        assert (await response.text()).startswith("<html>")


async def test_latency_and_jitter(raw_client, fake_server) -> None:
    fake_server.faults = "latency=60ms,jitter=20ms"
    started = time.perf_counter()
    assert (await raw_client.call("GET", fake_server.page_endpoint))[0] == 200
    assert 0.06 <= time.perf_counter() - started < 1.0
    assert fake_server.stats.faults["latency"] == 1


async def test_skip_first_only_and_predicate(raw_client, fake_server) -> None:
    fake_server.faults = "503=1,skip_first=2"
    assert await outcomes(raw_client, fake_server, 4) == ["200", "200", "503", "503"]
    record_id = fake_server.all_records()[0]["id"]
    fake_server.faults = "503=1,only=collections"
    assert (await raw_client.call("GET", f"/records/{record_id}"))[0] == 200
    assert (await raw_client.call("GET", fake_server.cursor_endpoint))[0] == 503
    fake_server.faults = FaultSpec(status={503: 1}, predicate=lambda method, path: method == "POST")
    assert (await raw_client.call("GET", fake_server.page_endpoint))[0] == 200
    assert (await raw_client.call("POST", fake_server.page_endpoint, json={}))[0] == 503


async def test_faults_given_to_the_constructor() -> None:
    async with (
        FakeAccuticsServer(records=5, faults="502=1") as server,
        aiohttp.ClientSession() as s,
    ):
        async with s.get(server.url("/records")) as response:
            assert response.status == 502
        assert server.faults == FaultSpec(status={502: 1})
        assert server.describe()["faults"] == "502=1"


async def test_counters_and_request_log(raw_client, fake_server) -> None:
    fake_server.faults = "latency=50ms"
    await asyncio.gather(*(raw_client.call("GET", fake_server.page_endpoint) for _ in range(5)))
    await raw_client.call("GET", fake_server.cursor_endpoint, params={"page_size": "3"})
    await raw_client.call("GET", "/nowhere", token=None)
    stats = fake_server.stats
    assert stats.total_requests == 7
    assert stats.peak_in_flight == 5
    assert stats.in_flight == 0
    assert stats.requests_by_path == {"/v1/records": 5, "/v1/stream/records": 1, "/v1/nowhere": 1}
    assert stats.requests_by_endpoint["invalid_route"] == 1
    log = fake_server.request_log
    assert [entry.status for entry in log] == [200] * 6 + [400]
    assert log[0].headers["Authorization"] == f"Bearer {fake_server.token}"
    assert "Authorization" not in log[-1].headers
    assert log[5].path_qs == "/v1/stream/records?page_size=3"
    assert (log[5].method, log[5].endpoint) == ("GET", "records.cursor")
    fake_server.reset_stats()
    assert (stats.total_requests, stats.peak_in_flight, fake_server.request_log) == (0, 0, [])


async def test_lifecycle_is_clean_with_open_connections() -> None:
    server = FakeAccuticsServer(records=3)
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018
    await server.start()
    with pytest.raises(RuntimeError, match="already running"):
        await server.start()
    url = server.url("/records")
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            await response.read()  # the keep-alive connection stays open
        await server.stop()
        await server.stop()  # idempotent
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url):
                pass
    await server.start()  # restartable, on a new free port
    assert server.base_url.startswith("http://127.0.0.1:")
    await server.stop()
    gc.collect()  # with -W error, an unclosed transport would fail here
