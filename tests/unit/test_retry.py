"""The retry schedule, Retry-After, the shared 429 gate and the deadline.

Sleeps go through the ``clock`` fixture (``tests/unit/conftest.py``), which
replaces ``_retry._sleep``/``_retry._clock``: no test waits in real time, and
every wait is asserted exactly.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import tenacity
from aioresponses import aioresponses
from yarl import URL

from accutics_async import (
    AccuticsClient,
    APIError,
    BadRequestError,
    ConfigurationError,
    DecodeError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    _retry,
    disable_retries,
)
from accutics_async._retry import RateLimitGate

BASE = "https://api.example.com/v1"
URL_ = f"{BASE}/records"
LIST = {"data": [], "meta": {"endpoint": "records.index"}}
STATUS_CLASS: dict[int, type[APIError]] = {
    429: RateLimitError,
    500: ServerError,
    502: ServerError,
    503: ServerError,
    504: ServerError,
}


def client(retry: RetryPolicy | None = RetryPolicy(), **kw: Any) -> AccuticsClient:  # noqa: B008
    # The retry layer alone: the rate limiter's own waits (after a cut) would
    # add sleeps to the ones these tests count; tests/unit/test_ratelimit.py
    # covers it.
    kw.setdefault("adaptive", False)
    return AccuticsClient("tok", base_url=BASE, retry=retry, **kw)


def count(m: aioresponses) -> int:
    return sum(len(seen) for seen in m.requests.values())


def fail(m: aioresponses, status: int, times: int = 1, **kw: Any) -> None:
    for _ in range(times):
        m.get(URL_, status=status, body=kw.pop("body", b"error"), **kw)


# -- which failures are retried -----------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_retried_statuses_succeed_after_failures(
    mock_http: aioresponses, clock: Any, status: int, method: str
) -> None:
    for _ in range(2):
        mock_http.add(URL_, method=method, status=status, body=b"busy")
    mock_http.add(URL_, method=method, payload=LIST)
    async with client() as c:
        resp = await c.request(method, "/records", json={"a": 1} if method == "PUT" else None)
    assert resp.status == 200
    assert count(mock_http) == 3
    assert len(clock.sleeps) == 2
    assert c.stats[f"retries.status_{status}"] == 2


async def test_retried_put_sends_the_same_body(mock_http: aioresponses, clock: Any) -> None:
    mock_http.put(URL_, status=503, body=b"")
    mock_http.put(URL_, payload=LIST)
    async with client() as c:
        await c.put("/records", json={"input_medium": "email"})
    bodies = [call.kwargs["data"] for seen in mock_http.requests.values() for call in seen]
    assert bodies == [b'{"input_medium":"email"}'] * 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_post_and_patch_are_not_retried(
    mock_http: aioresponses, clock: Any, method: str, status: int
) -> None:
    mock_http.add(URL_, method=method, status=status, body=b"x")
    mock_http.add(URL_, method=method, payload=LIST)
    async with client() as c:
        with pytest.raises(STATUS_CLASS[status]):
            await c.request(method, "/records", json={"a": 1})
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_post_is_retried_when_the_policy_lists_it(
    mock_http: aioresponses, clock: Any
) -> None:
    mock_http.post(URL_, status=503, body=b"")
    mock_http.post(URL_, payload=LIST)
    async with client(RetryPolicy(retry_methods=("get", "post"))) as c:
        await c.post("/records", json={})
    assert count(mock_http) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
async def test_other_statuses_are_not_retried(
    mock_http: aioresponses, clock: Any, status: int
) -> None:
    fail(mock_http, status, times=2)
    async with client() as c:
        with pytest.raises(APIError) as info:
            await c.get("/records")
    assert info.value.status == status
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_retry_statuses_are_configurable(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503)
    async with client(RetryPolicy(retry_statuses=(500,))) as c:
        with pytest.raises(ServerError):
            await c.get("/records")
    assert count(mock_http) == 1


# -- max_attempts -------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
async def test_max_attempts_counts_every_attempt(
    mock_http: aioresponses, clock: Any, attempts: int
) -> None:
    fail(mock_http, 503, times=attempts + 3)
    async with client(RetryPolicy(max_attempts=attempts)) as c:
        with pytest.raises(ServerError) as info:
            await c.get("/records")
    assert not isinstance(info.value, tenacity.RetryError)
    assert info.value.status == 503
    assert count(mock_http) == attempts
    assert len(clock.sleeps) == attempts - 1
    assert c.stats["attempts"] == attempts


async def test_default_policy_makes_four_attempts(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 502, times=10)
    async with client() as c:
        with pytest.raises(ServerError):
            await c.get("/records")
    assert count(mock_http) == 4


async def test_final_error_is_the_last_one(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 500)
    fail(mock_http, 502)
    async with client(RetryPolicy(max_attempts=2)) as c:
        with pytest.raises(ServerError) as info:
            await c.get("/records")
    assert info.value.status == 502


# -- Retry-After --------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(
    mock_http: aioresponses, clock: Any, status: int
) -> None:
    fail(mock_http, status, headers={"Retry-After": "3"})
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        await c.get("/records")
    assert clock.sleeps == [3.0]


def http_date(when: datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


async def test_retry_after_http_date_is_counted_from_the_answer_s_date(
    mock_http: aioresponses, clock: Any
) -> None:
    # The server's clock and this machine's need not agree: the wait is what
    # the server meant (its Date to its Retry-After), and every part of the
    # client that reads the answer (the 429 gate, the limiter, the error's
    # retry_after, the backoff) gets the same number, so one wait is slept.
    sent = datetime(2020, 5, 17, 8, 30, 0, tzinfo=timezone.utc)
    headers = {"Date": http_date(sent), "Retry-After": http_date(sent + timedelta(seconds=10))}
    fail(mock_http, 429, headers=headers)
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        await c.get("/records")
    assert clock.sleeps == [10.0]


async def test_retry_after_http_date_without_a_date_header_uses_this_clock(
    mock_http: aioresponses, clock: Any
) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    fail(mock_http, 429, headers={"Retry-After": http_date(when)})
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        await c.get("/records")
    # Read against the clock a few microseconds apart by the gate and by the
    # backoff: the gate may hold the difference back as one more short wait.
    first, *rest = clock.sleeps
    assert 8.0 < first <= 10.0
    assert sum(rest) < 0.5


async def test_retry_after_wins_over_backoff(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503, headers={"Retry-After": "0"})
    mock_http.get(URL_, payload=LIST)
    async with client(RetryPolicy(backoff=10.0)) as c:
        await c.get("/records")
    assert clock.sleeps == [0.0]


async def test_retry_after_over_the_cap_raises_at_once(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 429, headers={"Retry-After": "3600"})
    mock_http.get(URL_, payload=LIST)
    async with client(RetryPolicy(max_backoff=30.0)) as c:
        with pytest.raises(RateLimitError) as info:
            await c.get("/records")
    assert info.value.retry_after == 3600.0
    assert info.value.status == 429
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_503_retry_after_over_the_cap_raises_at_once(
    mock_http: aioresponses, clock: Any
) -> None:
    fail(mock_http, 503, headers={"Retry-After": "31"})
    async with client(RetryPolicy(max_backoff=30.0)) as c:
        with pytest.raises(ServerError) as info:
            await c.get("/records")
    assert info.value.retry_after == 31.0
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_retry_after_at_the_cap_is_slept(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 429, headers={"Retry-After": "30"})
    mock_http.get(URL_, payload=LIST)
    async with client(RetryPolicy(max_backoff=30.0)) as c:
        await c.get("/records")
    assert clock.sleeps == [30.0]


# -- the shared 429 gate ------------------------------------------------------


async def test_a_429_pauses_concurrent_requests_of_the_client(
    mock_http: aioresponses, clock: Any
) -> None:
    sent: list[tuple[str, float]] = []

    def record(name: str) -> Any:
        def callback(url: URL, **kwargs: Any) -> None:
            sent.append((name, clock.now))

        return callback

    mock_http.get(
        f"{BASE}/a", status=429, headers={"Retry-After": "4"}, body=b"", callback=record("a1")
    )
    mock_http.get(f"{BASE}/a", payload=LIST, callback=record("a2"))
    mock_http.get(f"{BASE}/b", payload=LIST, callback=record("b"))
    async with client() as c:
        first = asyncio.create_task(c.get("/a"))
        # Until /a has had its 429: there is no event to wait on inside the client.
        for _ in range(100):
            if c._sender._gate.remaining() > 0:
                break
            await asyncio.sleep(0)
        else:
            first.cancel()
            pytest.fail("the 429 did not close the client's gate")
        assert clock.now == 1000.0
        await c.get("/b")
        await first
    times = dict(sent)
    assert times["a1"] == 1000.0
    # /b was asked for right after the 429 but waited out the Retry-After.
    assert times["b"] >= 1004.0
    assert times["a2"] >= 1004.0
    assert clock.sleeps == [4.0, 4.0]  # /a's retry wait, and /b at the gate


async def test_the_gate_holds_later_requests_even_without_retries(
    mock_http: aioresponses, clock: Any
) -> None:
    sent: list[float] = []
    mock_http.get(f"{BASE}/a", status=429, headers={"Retry-After": "5"}, body=b"")
    mock_http.get(f"{BASE}/b", payload=LIST, callback=lambda url, **kw: sent.append(clock.now))
    async with client(retry=None) as c:
        with pytest.raises(RateLimitError):
            await c.get("/a")
        await c.get("/b")
    assert clock.sleeps == [5.0]
    assert sent == [1005.0]


async def test_the_gate_is_per_client(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(f"{BASE}/a", status=429, headers={"Retry-After": "5"}, body=b"")
    mock_http.get(f"{BASE}/b", payload=LIST)
    async with client(retry=None) as one, client(retry=None) as two:
        with pytest.raises(RateLimitError):
            await one.get("/a")
        await two.get("/b")
    assert clock.sleeps == []


async def test_gate_refuses_a_pause_over_the_cap(clock: Any) -> None:
    gate = RateLimitGate()
    gate.close_for(50.0)
    with pytest.raises(RateLimitError) as info:
        await gate.wait(cap=30.0)
    assert info.value.status == 429
    assert info.value.retry_after == 50.0
    assert clock.sleeps == []


async def test_gate_never_shortens_a_pause(clock: Any) -> None:
    gate = RateLimitGate()
    gate.close_for(10.0)
    gate.close_for(2.0)
    assert gate.remaining() == 10.0
    await gate.wait(cap=30.0)
    assert clock.sleeps == [10.0]
    assert gate.remaining() == 0.0


async def test_a_slow_pause_hook_does_not_lengthen_the_pause(clock: Any) -> None:
    async def slow_hook(seconds: float) -> None:
        clock.now += 0.75  # the hook itself takes 0.75 s of the 2 s pause

    gate = RateLimitGate(on_pause=slow_hook)
    gate.close_for(2.0)
    await gate.wait(cap=30.0)
    assert clock.sleeps == [1.25]
    assert gate.remaining() == 0.0


def test_gate_with_its_own_clock() -> None:
    now = [0.0]
    gate = RateLimitGate(clock=lambda: now[0])
    assert gate.remaining() == 0.0
    gate.close_for(3.0)
    now[0] = 1.0
    assert gate.remaining() == 2.0
    now[0] = 5.0
    assert gate.remaining() == 0.0


@pytest.mark.parametrize("start", [-100.0, -2.0, 0.0])
def test_gate_pauses_for_what_was_asked_on_a_clock_at_or_below_zero(start: float) -> None:
    # A fake clock, or time.monotonic() on some platforms, may read 0 or less.
    now = [start]
    gate = RateLimitGate(clock=lambda: now[0])
    assert not gate.ever_closed
    gate.close_for(3.0)
    assert gate.ever_closed
    assert gate.remaining() == 3.0
    now[0] = start + 3.0
    assert gate.remaining() == 0.0


# -- switching retries off ----------------------------------------------------


async def test_retry_none_makes_one_attempt(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503, times=3)
    async with client(retry=None) as c:
        with pytest.raises(ServerError):
            await c.get("/records")
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_disable_retries_makes_one_attempt(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503, times=3)
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        with disable_retries(), pytest.raises(ServerError):
            await c.get("/records")
        assert count(mock_http) == 1
        # Back on after the block.
        await c.get("/records")
    assert count(mock_http) == 4


def test_disable_retries_restores_on_error() -> None:
    from accutics_async import _retry

    def fail_inside() -> None:
        with disable_retries():
            assert _retry._enabled is False
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    assert _retry._enabled is True


# -- transport faults and bad bodies ------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (aiohttp.ClientConnectionError(), "other"),
        (asyncio.TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "reset"),
        (aiohttp.ClientPayloadError("cut"), "truncated"),
        (ConnectionResetError(), "reset"),
    ],
)
async def test_transport_faults_are_retried_for_get(
    mock_http: aioresponses, clock: Any, exc: BaseException, kind: str
) -> None:
    mock_http.get(URL_, exception=exc)
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        resp = await c.get("/records")
    assert resp.status == 200
    assert count(mock_http) == 2
    # Retry statistics count by TransportError.kind.
    assert c.stats[f"retries.{kind}"] == 1


@pytest.mark.parametrize("exc", [aiohttp.ClientConnectionError(), asyncio.TimeoutError()])
async def test_transport_faults_end_as_transport_error(
    mock_http: aioresponses, clock: Any, exc: BaseException
) -> None:
    for _ in range(3):
        mock_http.get(URL_, exception=exc)
    async with client(RetryPolicy(max_attempts=3)) as c:
        with pytest.raises(TransportError) as info:
            await c.get("/records")
    assert type(info.value.__cause__) is type(exc)
    assert count(mock_http) == 3


async def test_transport_faults_are_not_retried_for_post(
    mock_http: aioresponses, clock: Any
) -> None:
    mock_http.post(URL_, exception=aiohttp.ServerDisconnectedError())
    mock_http.post(URL_, payload=LIST)
    async with client() as c:
        with pytest.raises(TransportError):
            await c.post("/records", json={})
    assert count(mock_http) == 1


async def test_non_json_2xx_is_retried_for_get(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(URL_, status=200, body=b'{"data": [{"id": "a"}, {"i')
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        resp = await c.get("/records")
    assert resp.data == []
    assert c.stats["retries.not_json"] == 1


async def test_a_delete_answered_2xx_that_is_not_json_is_not_sent_again(
    mock_http: aioresponses, clock: Any
) -> None:
    # The 200 says the delete was done: a second one would answer 404.
    mock_http.delete(URL_, status=200, body=b'{"data": {"id": "a"')
    mock_http.delete(URL_, status=404, payload={"error": {"code": "not_found", "message": "x"}})
    async with client() as c:
        with pytest.raises(DecodeError) as info:
            await c.delete("/records")
    assert info.value.status == 200
    assert count(mock_http) == 1


async def test_non_json_2xx_raises_decode_error_after_max_attempts(
    mock_http: aioresponses, clock: Any
) -> None:
    for _ in range(3):
        mock_http.get(URL_, status=200, body=b"<html>sign in</html>", content_type="text/html")
    async with client(RetryPolicy(max_attempts=3)) as c:
        with pytest.raises(DecodeError) as info:
            await c.get("/records")
    assert info.value.kind == "not_json"
    assert count(mock_http) == 3


async def test_2xx_json_without_data_is_not_retried(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(URL_, payload={"meta": {}})
    mock_http.get(URL_, payload=LIST)
    async with client() as c:
        with pytest.raises(DecodeError) as info:
            await c.get("/records")
    assert info.value.kind == "not_envelope"
    assert count(mock_http) == 1


async def test_bad_request_is_not_retried(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(URL_, status=400, payload={"error": {"code": "invalid_route", "message": "m"}})
    async with client() as c:
        with pytest.raises(BadRequestError):
            await c.get("/records")
    assert count(mock_http) == 1


# -- deadline -----------------------------------------------------------------


async def test_deadline_stops_retries_early(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503, times=10, headers={"Retry-After": "5"})
    async with client(RetryPolicy(max_attempts=10, deadline=12.0)) as c:
        with pytest.raises(TransportError) as info:
            await c.get("/records")
    assert info.value.kind == "deadline"
    assert isinstance(info.value.__cause__, ServerError)
    # t=0 fail, wait 5; t=5 fail, wait 5; t=10 fail, and 10 + 5 > 12: stop.
    assert count(mock_http) == 3
    assert clock.sleeps == [5.0, 5.0]


async def test_per_call_deadline(mock_http: aioresponses, clock: Any) -> None:
    fail(mock_http, 503, times=10, headers={"Retry-After": "5"})
    async with client(RetryPolicy(max_attempts=10)) as c:
        with pytest.raises(TransportError, match="deadline") as info:
            await c.get("/records", deadline=4.0)
    assert info.value.kind == "deadline"
    assert count(mock_http) == 1
    assert clock.sleeps == []


async def test_deadline_counts_time_spent(mock_http: aioresponses, clock: Any) -> None:
    def slow(url: URL, **kwargs: Any) -> None:
        clock.now += 7.0  # each attempt takes 7 s on the fake clock

    for _ in range(5):
        mock_http.get(URL_, status=503, body=b"", headers={"Retry-After": "1"}, callback=slow)
    async with client(RetryPolicy(max_attempts=5, deadline=10.0)) as c:
        with pytest.raises(TransportError) as info:
            await c.get("/records")
    assert info.value.kind == "deadline"
    # t=7 fail (7 + 1 <= 10), wait; t=15 fail: over the deadline.
    assert count(mock_http) == 2


# -- backoff with full jitter -------------------------------------------------


async def test_backoff_ceilings_double_up_to_the_cap(
    mock_http: aioresponses, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        bounds.append((a, b))
        return b

    monkeypatch.setattr(random, "uniform", uniform)
    fail(mock_http, 500, times=7)
    async with client(RetryPolicy(max_attempts=7, backoff=0.5, max_backoff=3.0)) as c:
        with pytest.raises(ServerError):
            await c.get("/records")
    # tenacity also computes a wait after the last attempt (before it decides
    # to stop); that one is never slept.
    assert bounds[:6] == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (0.0, 3.0), (0.0, 3.0)]
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_full_jitter_waits_lie_in_range(mock_http: aioresponses, clock: Any) -> None:
    random.seed(1234)
    policy = RetryPolicy(max_attempts=9, backoff=0.25, max_backoff=4.0)
    for _ in range(5):
        fail(mock_http, 502, times=9)
        async with client(policy) as c:
            with pytest.raises(ServerError):
                await c.get("/records")
        waits, clock.sleeps = clock.sleeps, []
        assert len(waits) == 8
        for n, wait in enumerate(waits, start=1):
            assert 0.0 <= wait <= min(4.0, 0.25 * 2 ** (n - 1))
            assert policy.backoff_ceiling(n) == min(4.0, 0.25 * 2 ** (n - 1))


# -- RetryPolicy --------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 4
    assert policy.max_backoff == 30.0
    assert policy.retry_statuses == (429, 500, 502, 503, 504)
    assert policy.retry_methods == ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
    assert policy.deadline is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_attempts": 1.5},
        {"max_attempts": True},
        {"backoff": 0},
        {"backoff": -1.0},
        {"max_backoff": 0},
        {"deadline": 0},
        {"deadline": -5},
        # Each of these used to be accepted and then retry nothing (or a bare TypeError).
        {"retry_methods": "GET"},
        {"retry_methods": ["GET", 1]},
        {"retry_methods": [""]},
        {"retry_methods": 5},
        {"retry_statuses": ["503"]},
        {"retry_statuses": 503},
        {"retry_statuses": [True]},
        {"retry_statuses": [99]},
    ],
)
def test_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)


def test_backoff_ceilings_stay_finite_however_many_attempts() -> None:
    # 2.0 ** 1024 overflows: attempt 1025 raised a bare OverflowError.
    policy = RetryPolicy(max_attempts=5000, backoff=1e-6, max_backoff=1e-6)
    assert policy.backoff_ceiling(1025) == policy.backoff_ceiling(10**9) == 1e-6


def test_policy_normalises_methods_and_is_frozen() -> None:
    policy = RetryPolicy(retry_methods=["get", "Put"], retry_statuses=[503])
    assert policy.retry_methods == ("GET", "PUT")
    assert policy.retry_statuses == (503,)
    with pytest.raises(AttributeError):
        policy.max_attempts = 2  # type: ignore[misc]


def test_should_retry_table() -> None:
    policy = RetryPolicy(max_backoff=10.0)
    assert policy.should_retry("get", TransportError("reset"))
    assert not policy.should_retry("POST", TransportError("reset"))
    assert policy.should_retry("GET", DecodeError("x", kind="not_json"))
    for kind in ("not_envelope", "bad_meta", "bad_item", "too_large"):
        assert not policy.should_retry("GET", DecodeError("x", kind=kind))
    assert policy.should_retry("GET", RateLimitError("x", status=429, retry_after=10.0))
    assert not policy.should_retry("GET", RateLimitError("x", status=429, retry_after=10.5))
    assert policy.should_retry("GET", ServerError("x", status=503))
    assert not policy.should_retry("GET", ServerError("x", status=501))
    assert not policy.should_retry("GET", ValueError("x"))


# -- stats --------------------------------------------------------------------


async def test_stats_count_retries_by_reason(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(URL_, status=503, body=b"")
    mock_http.get(URL_, status=429, body=b"", headers={"Retry-After": "1"})
    mock_http.get(URL_, exception=asyncio.TimeoutError())
    mock_http.get(URL_, status=200, body=b"not json")
    mock_http.get(URL_, payload=LIST)
    async with client(RetryPolicy(max_attempts=5)) as c:
        await c.get("/records")
    assert c.stats["requests"] == 1
    assert c.stats["attempts"] == 5
    assert {k: v for k, v in c.stats.items() if k.startswith("retries.")} == {
        "retries.status_503": 1,
        "retries.status_429": 1,
        "retries.timeout": 1,
        "retries.not_json": 1,
    }


# -- the first attempt runs outside tenacity (speed), with the same schedule ---


async def test_a_first_attempt_that_succeeds_builds_no_tenacity_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("AsyncRetrying built for a call that succeeded at once")

    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)
    monkeypatch.setattr(_retry, "AsyncRetrying", refuse, raising=False)  # if imported at the top

    async def attempt(ends_at: float | None) -> str:
        return "ok"

    result = await _retry.call_with_retries(attempt, method="GET", policy=RetryPolicy())
    assert result == "ok"


async def test_backoff_numbering_continues_after_the_first_attempt(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    calls: list[int] = []
    seen: list[tuple[float, int]] = []

    async def attempt(ends_at: float | None) -> str:
        calls.append(1)
        if len(calls) < 4:
            raise TransportError("connection reset")
        return "ok"

    result = await _retry.call_with_retries(
        attempt,
        method="GET",
        policy=RetryPolicy(max_attempts=5, backoff=1.0),
        on_retry=lambda exc, sleep, number: seen.append((sleep, number)),
    )
    assert result == "ok"
    assert len(calls) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert seen == [(1.0, 1), (2.0, 2), (4.0, 3)]


async def test_a_first_failure_not_worth_retrying_is_raised_at_once(clock: Any) -> None:
    calls: list[int] = []

    async def attempt(ends_at: float | None) -> str:
        calls.append(1)
        raise TransportError("connection reset", kind="reset")

    with pytest.raises(TransportError):
        await _retry.call_with_retries(attempt, method="POST", policy=RetryPolicy())
    assert calls == [1]
    assert clock.sleeps == []


# -- an unreadable Retry-After -------------------------------------------------

HUGE_DATE = "Fri, 31 Dec 2024 99999999999999999999:00:00 GMT"  # too big for a date


@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_too_big_for_a_date_is_unreadable_not_a_crash(
    mock_http: aioresponses, status: int, adaptive: bool
) -> None:
    # On 9979521 the date parser's OverflowError escaped the call, and the
    # adaptive limiter (which reads the header too) kept the call's slot for
    # ever: with max_concurrency=1 the next call never went out.
    mock_http.get(URL_, status=status, headers={"Retry-After": HUGE_DATE}, body=b"{}")
    mock_http.get(URL_, payload=LIST)
    async with client(retry=None, adaptive=adaptive, max_concurrency=1) as c:
        with pytest.raises(STATUS_CLASS[status]) as info:
            await c.get("records")
        assert info.value.retry_after is None
        resp = await asyncio.wait_for(c.get("records"), 5.0)
    assert resp.data == []
