"""Client-side rate limiting: a token bucket whose rate adapts to the server's limit.

Two layers, so the decisions can be tested with a fake clock and no loop:

- :class:`SendControl` is pure. It is told the time and answers how long the
  next request must wait, and how an answer changes the send rate and the
  number of requests allowed in flight.
- :class:`RateLimiter` puts it to work for asyncio tasks: each request takes
  an in-flight slot and a token before it goes on the wire, in arrival order,
  and reports its answer when it has one.

Why the rate and not only the requests in flight: against a fast API (a page
in a few milliseconds) one request in flight already exceeds a limit of
40/s, so fewer requests in flight do not lower the rate.

Adaptation (on unless ``adaptive=False``), after aiobotocore's adaptive mode
with three details that a prototype measured to decide whether it works:

- A 429, or a 503 with ``Retry-After``, *cuts*: the rate becomes ``BETA``
  times the rate measured just before (no more than the server let through
  in the last second, or ``1 / Retry-After``: the time to the server's next
  slot is a measurement of its rate), and the requests in flight are cut by
  the same factor. Only a request sent after the last cut may cut again:
  the requests already in flight met the same overload, and each cutting
  again would drive the rate to the floor.
- While the client is paused by a 429's ``Retry-After`` no token is handed
  out and none accrues; at the end of the pause exactly one is there, for
  the slot the server said is free. (A bucket that filled up during the
  pause would burst into the next 429.)
- Paused time is left out of the measured rate (a one-second pause would
  otherwise halve it and the next cut would be far too deep).

Successful answers raise the rate again in the shape of CUBIC, in time since
the last cut: back near the rate of the cut after ``RECOVERY`` seconds, flat
there, then probing above it. Growth stops at twice the rate actually sent
(an idle client must not build up a rate it never tested) and at
``rate_limit``. The requests in flight grow by one per window of successes,
up to ``max_concurrency``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

import attrs

from ._sansio.protocol import retry_after_of

__all__ = ["LimiterEvent", "RateLimiter", "SendControl"]

#: The factor a cut multiplies the rate and the requests in flight by.
BETA = 0.8
#: Seconds after a cut at which the rate is back at the rate of the cut.
RECOVERY = 2.0
#: Seconds of unpaused time the send rate is measured over.
WINDOW = 1.0
#: Tokens the bucket holds at most: one, so requests are spaced evenly. A
#: client burst larger than the server's own earns 429s for nothing.
BURST = 1.0
#: No cut takes the rate below this (requests per second).
MIN_RATE = 0.5
# A rate measured over less time than this is taken over this time: the
# first few requests of a walk go out within microseconds of each other.
_MIN_SPAN = 0.05
# A raise is reported (as an event, in the stats) once the rate has grown
# by this factor since the last report; it grows a little on every answer.
_REPORT_STEP = 1.1

EventKind = Literal["pause", "rate_cut", "rate_raise", "concurrency_cut", "concurrency_raise"]


@attrs.frozen
class LimiterEvent:
    """One decision of the limiter, for counters, logs and event hooks.

    ``rate`` is the send rate after the decision (requests per second;
    ``None``: no limit yet), ``concurrency`` the requests allowed in flight
    after it, ``seconds`` the length of a pause (else 0), and ``status`` the
    HTTP status that caused a pause or a cut.
    """

    kind: EventKind
    rate: float | None
    concurrency: int
    seconds: float = 0.0
    status: int | None = None


OnEvent = Callable[[LimiterEvent], None]


class SendControl:
    """The pure state of one client's limiter; every method is given the time.

    ``rate_limit`` (requests per second, or ``None``) is a ceiling that holds
    from the first request; ``max_pause`` is the longest ``Retry-After`` the
    client waits out (a longer one is the caller's error to handle, and
    pauses nobody). ``on_event`` is called with each :class:`LimiterEvent`.
    """

    def __init__(
        self,
        *,
        rate_limit: float | None,
        max_concurrency: int,
        adaptive: bool = True,
        max_pause: float = 30.0,
        burst: float = BURST,
        beta: float = BETA,
        recovery: float = RECOVERY,
        on_event: OnEvent | None = None,
    ) -> None:
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self.max_pause = max_pause
        self._burst = burst
        self._beta = beta
        self._recovery = recovery
        self._on_event = on_event
        #: The current send rate (requests per second); ``None`` is no limit.
        self.rate: float | None = rate_limit
        #: Requests allowed in flight now.
        self.concurrency = max_concurrency
        self._window = float(max_concurrency)
        self._tokens = burst
        self._filled_at = 0.0  # unpaused time of the last refill
        # Pauses: the seconds of all of them (the latest one whole), and the latest.
        self._paused = 0.0
        self._pause_start = 0.0
        self._pause_end = -math.inf
        # Send and success times in unpaused time, the last WINDOW of them.
        self._sends: deque[float] = deque()
        self._oks: deque[float] = deque()
        self._first_send: float | None = None
        self._sent = 0  # requests sent so far; a request's ticket is its number
        self._cut_ticket = 0  # the last request sent before the last cut
        self._cut_at = 0.0  # unpaused time of the last cut
        self._cut_rate = 0.0  # the rate the last cut started from (CUBIC's W_max)
        self._cut_from = 0.0  # the rate the last cut set
        self._reported = rate_limit or 0.0

    # -- time --------------------------------------------------------------------

    def unpaused(self, now: float) -> float:
        """``now`` with every paused second taken out: the clock rates are measured on."""
        if now >= self._pause_end:
            return now - self._paused
        # Stands still during a pause.
        return self._pause_start - (self._paused - (self._pause_end - self._pause_start))

    def paused_until(self) -> float:
        """When the latest pause ends (in the clock's time; in the past if none)."""
        return self._pause_end

    def _refill(self, now: float) -> None:
        assert self.rate is not None
        at = self.unpaused(now)
        if at > self._filled_at:
            self._tokens = min(self._burst, self._tokens + (at - self._filled_at) * self.rate)
            self._filled_at = at

    # -- sending -----------------------------------------------------------------

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until a request may be sent (0.0: at once)."""
        if now < self._pause_end:
            return self._pause_end - now
        if self.rate is None:
            return 0.0
        self._refill(now)
        # A hair short of a token is float rounding of exact spacing, not a wait.
        return 0.0 if self._tokens >= 1.0 - 1e-9 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> int:
        """Spend a token for a request sent at ``now``; return its ticket for :meth:`answered`.

        Call it when :meth:`delay` is 0.0 (the bucket would go into debt
        otherwise, which later requests then pay back).
        """
        if self.rate is not None:
            self._refill(now)
            self._tokens -= 1.0
        at = self.unpaused(now)
        if self._first_send is None:
            self._first_send = at
        sends = self._sends
        sends.append(at)
        old = at - WINDOW
        while sends[0] <= old:
            sends.popleft()
        self._sent += 1
        return self._sent

    def measured_rate(self, now: float) -> float:
        """Requests sent per second over the last ``WINDOW`` of unpaused time."""
        at = self.unpaused(now)
        sends = self._sends
        while sends and sends[0] <= at - WINDOW:
            sends.popleft()
        if self._first_send is None:
            return 0.0
        span = max(_MIN_SPAN, min(WINDOW, at - self._first_send))
        return len(sends) / span

    def _allowed_rate(self, at: float) -> float:
        oks = self._oks
        while oks and oks[0] <= at - WINDOW:
            oks.popleft()
        return len(oks) / WINDOW

    # -- answers -----------------------------------------------------------------

    def answered(
        self, now: float, ticket: int, status: int | None, retry_after: float | None = None
    ) -> None:
        """Learn from the answer to request ``ticket``; ``status`` is ``None`` for no answer.

        ``retry_after`` is the answer's ``Retry-After`` in seconds, if any.
        """
        if status is None:
            return
        if status == 429 or (status == 503 and retry_after is not None):
            if self.adaptive and ticket > self._cut_ticket:
                self._cut(now, status, retry_after)
            # The shared pause of the contract is the 429's; a 503's
            # Retry-After is the wait of the request that got it.
            if status == 429 and retry_after is not None and retry_after <= self.max_pause:
                self._pause(now, retry_after)
            return
        if status >= 500:
            return
        at = self.unpaused(now)
        oks = self._oks
        oks.append(at)
        if oks[0] <= at - WINDOW:
            self._allowed_rate(at)  # drops the old ones
        if self._cut_ticket and self.adaptive:
            self._grow(now, at)

    def _pause(self, now: float, seconds: float) -> None:
        end = now + seconds
        if now < self._pause_end:
            if end > self._pause_end:
                self._paused += end - self._pause_end
                self._pause_end = end
            return
        if self.rate is not None:
            self._refill(now)
        self._paused += seconds
        self._pause_start, self._pause_end = now, end
        # The server's next slot is at the end of the pause: one request for it.
        self._tokens = max(self._tokens, min(1.0, self._burst))
        self._emit("pause", seconds=seconds, status=429)

    def _cut(self, now: float, status: int, retry_after: float | None) -> None:
        at = self.unpaused(now)
        measured = self.measured_rate(now)
        allowed = self._allowed_rate(at)
        if retry_after:
            allowed = max(allowed, 1.0 / retry_after)
        # The rate the client ran into the limit at is where growth levels
        # out again (CUBIC's W_max); the new rate starts below the better
        # estimate of the two, so one cut usually lands under the limit.
        ran_at = measured
        if self.rate is not None:
            self._refill(now)
            ran_at = min(ran_at, self.rate)
        base = min(ran_at, allowed) if allowed > 0.0 else ran_at
        rate = max(MIN_RATE, base * self._beta)
        if self.rate_limit is not None:
            rate = min(rate, self.rate_limit)
        self.rate = self._reported = rate
        self._cut_rate = max(ran_at, rate)
        self._cut_from = rate
        self._tokens = min(self._tokens, 0.0)
        self._filled_at = at
        self._cut_ticket = self._sent
        self._cut_at = at
        self._window = max(1.0, self._window * self._beta)
        self._emit("rate_cut", status=status)
        if int(self._window) < self.concurrency:
            self.concurrency = int(self._window)
            self._emit("concurrency_cut", status=status)

    def _grow(self, now: float, at: float) -> None:
        if self._window < self.max_concurrency:
            self._window = min(float(self.max_concurrency), self._window + 1.0 / self._window)
            if int(self._window) > self.concurrency:
                self.concurrency = int(self._window)
                self._emit("concurrency_raise")
        assert self.rate is not None
        # CUBIC: W(t) = W_max - (W_max - W_0) * (1 - t/K)^3 starts at the rate
        # of the cut, levels out at W_max at t = K, then grows again.
        x = 1.0 - (at - self._cut_at) / self._recovery
        target = self._cut_rate - (self._cut_rate - self._cut_from) * x * x * x
        ceiling = max(self.rate, 2.0 * self.measured_rate(now))
        if self.rate_limit is not None:
            ceiling = min(ceiling, self.rate_limit)
        rate = min(target, ceiling)
        if rate <= self.rate:
            return
        self._refill(now)
        self.rate = rate
        if rate >= self._reported * _REPORT_STEP or rate == self.rate_limit != self._reported:
            self._reported = rate
            self._emit("rate_raise")

    def _emit(self, kind: EventKind, *, seconds: float = 0.0, status: int | None = None) -> None:
        if self._on_event is not None:
            self._on_event(LimiterEvent(kind, self.rate, self.concurrency, seconds, status))


class RateLimiter:
    """A :class:`SendControl` shared by the asyncio tasks of one client.

    ``ticket = await limiter.acquire()`` before a request goes on the wire,
    ``limiter.answered(ticket, status, headers)`` once it has an answer (or
    failed: ``status=None``), exactly once for each acquire that returned.
    """

    def __init__(
        self,
        control: SendControl,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.control = control
        self._clock = clock
        self._sleep = sleep
        self._in_flight = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        # One task at a time waits for a token, the others queue behind it in
        # order; it re-reads the bucket after each sleep, since a cut or a
        # pause may have come meanwhile.
        self._token_lock = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> int:
        """Wait for an in-flight slot and a token; return the request's ticket."""
        control = self.control
        # The common case first, with no await: a free slot and no limit yet.
        if self._in_flight < control.concurrency and not self._slot_waiters:
            self._in_flight += 1
        else:
            await self._slot()
        try:
            now = self._clock()
            if self._token_lock.locked() or control.delay(now) > 0.0:
                async with self._token_lock:
                    while (wait := control.delay(now := self._clock())) > 0.0:
                        await self._sleep(wait)
            return control.take(now)
        except BaseException:
            self._release()
            raise

    def answered(self, ticket: int, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Report the answer to ``ticket`` (``status=None``: none) and free its slot."""
        try:  # whatever the answer holds, the slot is freed
            retry_after = None
            if headers is not None and status in (429, 503):
                retry_after = retry_after_of(headers)
            self.control.answered(self._clock(), ticket, status, retry_after)
        finally:
            self._release()

    async def _slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted, then cancelled: hand it on
            elif waiter in self._slot_waiters:
                self._slot_waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self._in_flight -= 1
        # Also where a raised concurrency lets more requests go.
        waiters = self._slot_waiters
        while waiters and self._in_flight < self.control.concurrency:
            waiter = waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)
