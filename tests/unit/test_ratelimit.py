"""The rate limiter's mechanisms, on a fake clock (no sockets, no wall time)."""

from __future__ import annotations

import asyncio

import pytest

from accutics_async._ratelimit import BETA, LimiterEvent, RateLimiter, SendControl
from accutics_async.testing._limit import GatewayBucket, LimitSpec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def control(**kw: object) -> tuple[SendControl, list[LimiterEvent]]:
    events: list[LimiterEvent] = []
    args: dict[str, object] = {"rate_limit": None, "max_concurrency": 8}
    args.update(kw)
    return SendControl(on_event=events.append, **args), events  # type: ignore[arg-type]


def send(c: SendControl, now: float) -> int:
    assert c.delay(now) == 0.0
    return c.take(now)


def test_fixed_rate_spaces_requests_and_refills_up_to_the_burst() -> None:
    c, _ = control(rate_limit=10.0)
    send(c, 0.0)
    assert c.delay(0.0) == pytest.approx(0.1)
    assert c.delay(0.05) == pytest.approx(0.05)
    send(c, 0.1)
    # A long idle time refills one token only (burst 1), not ten.
    send(c, 5.0)
    assert c.delay(5.0) == pytest.approx(0.1)


def test_no_limit_and_no_429_never_waits() -> None:
    c, events = control()
    for i in range(1000):
        c.answered(i * 0.001, send(c, i * 0.001), 200)
    assert c.rate is None
    assert events == []


def test_429_cuts_the_rate_below_the_measured_rate_and_pauses() -> None:
    c, events = control()
    tickets = [send(c, t / 100) for t in range(100)]  # 100/s for a second
    for t in tickets[:-1]:
        c.answered(1.0, t, 200)
    c.answered(1.0, tickets[-1], 429, retry_after=0.5)
    assert c.rate is not None
    assert c.rate <= BETA * 100.0 + 1e-9
    assert [e.kind for e in events][:2] == ["rate_cut", "concurrency_cut"]
    assert "pause" in [e.kind for e in events]
    assert c.concurrency == int(8 * BETA)
    # No token is handed out during the pause ...
    assert c.delay(1.2) == pytest.approx(0.3)
    # ... and exactly one is there when it ends, none accrued meanwhile.
    send(c, 1.5)
    assert c.delay(1.5) == pytest.approx(1.0 / c.rate)


def test_paused_time_is_left_out_of_the_measured_rate() -> None:
    c, _ = control()
    for t in range(50):
        c.answered(t / 100, send(c, t / 100), 200)  # 100/s for half a second
    before = c.measured_rate(0.5)
    c.answered(0.5, send(c, 0.5), 429, retry_after=2.0)
    assert c.measured_rate(2.5) == pytest.approx(before, rel=0.05)


def test_only_a_request_sent_after_the_last_cut_cuts_again() -> None:
    c, events = control()
    in_flight = [send(c, 0.01 * i) for i in range(8)]
    c.answered(0.1, in_flight[0], 429, retry_after=0.01)
    first = c.rate
    for t in in_flight[1:]:
        c.answered(0.1, t, 429, retry_after=0.01)
    assert c.rate == first
    assert [e.kind for e in events].count("rate_cut") == 1
    later = send(c, 0.2)
    c.answered(0.21, later, 429, retry_after=0.01)
    assert [e.kind for e in events].count("rate_cut") == 2
    assert c.rate is not None
    assert first is not None
    assert c.rate < first


def test_successes_raise_the_rate_and_concurrency_within_the_bounds() -> None:
    c, events = control(rate_limit=50.0, max_concurrency=4)
    tickets = [send(c, i / 50) for i in range(50)]
    for t in tickets[:-1]:
        c.answered(1.0, t, 200)
    c.answered(1.0, tickets[-1], 429, retry_after=0.02)
    cut = c.rate
    assert cut is not None
    assert cut < 50.0
    now = 1.02
    for _ in range(2000):
        wait = c.delay(now)
        now += wait
        c.answered(now, c.take(now), 200)
    assert c.rate == 50.0  # back up, and never above rate_limit
    assert c.concurrency == 4  # never above max_concurrency
    kinds = [e.kind for e in events]
    assert "rate_raise" in kinds
    assert "concurrency_raise" in kinds


def test_503_with_retry_after_cuts_without_a_shared_pause() -> None:
    c, events = control()
    c.answered(0.0, send(c, 0.0), 503, retry_after=1.0)
    assert c.rate is not None
    assert "pause" not in [e.kind for e in events]
    c2, events2 = control()
    c2.answered(0.0, send(c2, 0.0), 503)
    assert c2.rate is None
    assert events2 == []


def test_not_adaptive_keeps_the_fixed_rate_but_still_pauses() -> None:
    c, events = control(rate_limit=10.0, adaptive=False)
    c.answered(0.0, send(c, 0.0), 429, retry_after=1.0)
    assert c.rate == 10.0
    assert [e.kind for e in events] == ["pause"]
    assert c.delay(0.5) == pytest.approx(0.5)


def test_a_retry_after_above_the_cap_pauses_nobody() -> None:
    c, events = control(max_pause=30.0)
    c.answered(0.0, send(c, 0.0), 429, retry_after=3600.0)
    assert "pause" not in [e.kind for e in events]
    assert c.delay(0.0) == 0.0 or c.delay(0.0) < 10.0


async def test_limiter_caps_requests_in_flight_and_hands_slots_on() -> None:
    clock = Clock()
    limiter = RateLimiter(SendControl(rate_limit=None, max_concurrency=2), clock=clock)
    a = await limiter.acquire()
    b = await limiter.acquire()
    third = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    assert limiter.in_flight == 2
    limiter.answered(a, 200, {})
    c = await third
    assert limiter.in_flight == 2
    # A cancelled waiter gives its place back.
    fourth = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    fourth.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fourth
    limiter.answered(b, None, None)
    limiter.answered(c, 200, {})
    assert limiter.in_flight == 0


async def test_limiter_sleeps_for_the_pause_then_for_the_rate() -> None:
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    control = SendControl(rate_limit=4.0, max_concurrency=8, adaptive=False)
    limiter = RateLimiter(control, clock=clock, sleep=sleep)
    t = await limiter.acquire()
    limiter.answered(t, 429, {"Retry-After": "2"})
    t = await limiter.acquire()  # waits out the pause, gets the one token
    limiter.answered(t, 200, {})
    t = await limiter.acquire()  # then the rate
    limiter.answered(t, 200, {})
    assert slept == [pytest.approx(2.0), pytest.approx(0.25)]


def test_gateway_bucket_admits_its_rate_and_tells_the_next_slot() -> None:
    clock = Clock()
    bucket = GatewayBucket(LimitSpec.parse("10/s:burst=2"), clock)
    assert bucket.admit() is None
    assert bucket.admit() is None
    wait = bucket.admit()
    assert wait == pytest.approx(0.1)
    assert bucket.retry_after(wait) == "0.100"
    clock.now += 0.1
    assert bucket.admit() is None
    whole = GatewayBucket(LimitSpec.parse("10/s:int:burst=1"), clock)
    assert whole.admit() is None
    assert whole.retry_after(whole.admit() or 0.0) == "1"


@pytest.mark.parametrize(
    ("text", "rate", "burst", "whole"),
    [("50/s", 50.0, 5, False), ("50/s:int", 50.0, 5, True), ("600/min:burst=3", 10.0, 3, False)],
)
def test_limit_syntax(text: str, rate: float, burst: int, whole: bool) -> None:
    spec = LimitSpec.parse(text)
    assert (spec.rate, spec.burst, spec.whole_seconds) == (rate, burst, whole)
    assert LimitSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text", ["50", "0/s", "50/h", "50/s:fast", "50/s:burst=0"])
def test_bad_limit_syntax_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        LimitSpec.parse(text)
