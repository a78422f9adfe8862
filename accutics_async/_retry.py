"""Retry policy, the shared 429 gate, and the retry loop (tenacity stays in here).

The policy's defaults *are* the behaviour most users want: four attempts,
exponential backoff with full jitter capped at 30 s, ``Retry-After``
honoured, and only idempotent methods retried, because retrying a POST that
the server did execute would create the record twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .errors import APIError, ConfigurationError, DecodeError, RateLimitError, TransportError

__all__ = ["RateLimitGate", "RetryPolicy", "call_with_retries", "disable_retries"]

T = TypeVar("T")

# Used for the 429 gate when retries are off: a client still waits out a
# short Retry-After rather than hammer a server that asked it to pause.
_DEFAULT_GATE_CAP = 30.0

_enabled = True

# Seams for tests: the retry loop and the 429 gate sleep through ``_sleep``,
# and the gate and the ``deadline`` read time through ``_clock``. Both are
# looked up when used, so a test can swap in a fake clock without patching
# asyncio or time for the whole event loop.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
_clock: Callable[[], float] = time.monotonic


@contextmanager
def disable_retries() -> Iterator[None]:
    """Turn retries off for every client while the ``with`` block runs.

    For tests of your own code: a failing call fails at once instead of
    sleeping through backoff. Not thread-safe by design; it is a test switch.
    """
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must be an int >= 1")


def _upper(methods: Any) -> tuple[str, ...]:
    return tuple(str(m).upper() for m in methods)


@attrs.frozen
class RetryPolicy:
    """When and how long to retry a failed request.

    - ``max_attempts``: every attempt counts, the first included.
    - ``backoff``: the first backoff ceiling in seconds; attempt *n* waits a
      uniformly random time in ``[0, min(max_backoff, backoff * 2**(n-1))]``
      ("full jitter"), unless the server sent ``Retry-After``.
    - ``max_backoff``: the cap on one wait. A ``Retry-After`` above it is not
      slept through: the error (``RateLimitError`` for 429) is raised with
      ``retry_after`` set, so the caller can decide.
    - ``retry_statuses``: HTTP statuses worth another attempt.
    - ``retry_methods``: methods that are retried at all. Connection resets,
      timeouts and a 2xx body cut short are retried only for these.
    - ``deadline``: optional bound in seconds on one call, retries and waits
      included; no retry is started that could not finish its wait in time.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=30.0, validator=_positive)
    retry_statuses: tuple[int, ...] = attrs.field(
        default=(429, 500, 502, 503, 504), converter=tuple
    )
    retry_methods: tuple[str, ...] = attrs.field(
        default=("GET", "HEAD", "OPTIONS", "PUT", "DELETE"), converter=_upper
    )
    deadline: float | None = attrs.field(default=None, validator=_positive)

    def backoff_ceiling(self, attempt: int) -> float:
        """The most attempt number ``attempt`` (1-based) may wait before the next."""
        return min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))

    def should_retry(self, method: str, exc: BaseException) -> bool:
        """Whether ``exc`` from one attempt of ``method`` is worth another attempt."""
        if method.upper() not in self.retry_methods:
            return False
        if isinstance(exc, TransportError):
            return True
        if isinstance(exc, DecodeError):
            return exc.kind == "not_json"
        if isinstance(exc, APIError) and exc.status in self.retry_statuses:
            return exc.retry_after is None or exc.retry_after <= self.max_backoff
        return False


class RateLimitGate:
    """One pause shared by every request of a client after a 429.

    When one request is told ``Retry-After: N``, sending the others during
    those N seconds would only earn more 429s.
    """

    __slots__ = ("_clock", "_on_pause", "_reopens_at")

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        *,
        on_pause: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._clock = clock
        # Told the seconds of each wait before it starts (hooks, telemetry).
        self._on_pause = on_pause
        self._reopens_at = 0.0

    def _now(self) -> float:
        return (self._clock or _clock)()

    def close_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (never shortens a pause)."""
        self._reopens_at = max(self._reopens_at, self._now() + seconds)

    def remaining(self) -> float:
        """Seconds until the gate reopens (0 when open)."""
        return max(0.0, self._reopens_at - self._now())

    async def wait(self, cap: float) -> None:
        """Wait until the gate is open; raise ``RateLimitError`` if that is over ``cap``."""
        while (left := self.remaining()) > 0:
            if left > cap:
                raise RateLimitError(
                    f"the API asked this client to pause for {left:.1f}s, "
                    f"more than the retry policy's cap of {cap:.1f}s",
                    status=429,
                    retry_after=left,
                )
            if self._on_pause is not None:
                await self._on_pause(left)
            await _sleep(left)


OnRetry = Callable[[BaseException, float, int], Awaitable[None] | None]


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    method: str,
    policy: RetryPolicy | None,
    gate: RateLimitGate,
    deadline: float | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` under ``policy`` and return its result.

    Every attempt first waits at the shared ``gate``; a 429 with
    ``Retry-After`` closes the gate for everyone. The final failure is
    re-raised as the library's own typed error, never tenacity's
    ``RetryError``. ``on_retry(exc, sleep_seconds, attempt_number)`` is called
    (and awaited, if it returns an awaitable) before each backoff sleep.
    """
    cap = policy.max_backoff if policy is not None else _DEFAULT_GATE_CAP

    async def gated() -> T:
        await gate.wait(cap)
        try:
            return await attempt()
        except APIError as exc:
            if exc.status == 429 and exc.retry_after is not None and exc.retry_after <= cap:
                gate.close_for(exc.retry_after)
            raise

    if policy is None or not _enabled or policy.max_attempts == 1:
        return await gated()

    limit = deadline if deadline is not None else policy.deadline
    started = _clock()
    # Nearly every call succeeds at once, so the first attempt runs without
    # building tenacity's machinery (tens of microseconds a call, as much as
    # a whole page of JSON costs to decode). A failure worth retrying hands
    # over to tenacity, which starts by "running" attempt 1 again: that
    # replays the same exception instead of a request, so numbering, waits,
    # the deadline and on_retry are exactly those of a plain tenacity loop.
    try:
        return await gated()
    except Exception as exc:
        if not policy.should_retry(method, exc):
            raise
        first_failure: Exception | None = exc

    async def replay_then_gated() -> T:
        nonlocal first_failure
        if first_failure is not None:
            failure, first_failure = first_failure, None
            raise failure
        return await gated()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, APIError) else None
        if retry_after is not None:
            return retry_after
        return random.uniform(0.0, policy.backoff_ceiling(state.attempt_number))

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        if limit is None:
            return False
        # Needs tenacity >= 8.3, which computes upcoming_sleep before stop.
        return _clock() - started + state.upcoming_sleep > limit

    async def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and exc is not None:
            result = on_retry(exc, state.upcoming_sleep or 0.0, state.attempt_number)
            if result is not None:
                await result

    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda exc: policy.should_retry(method, exc)),
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        sleep=_sleep,
        reraise=True,
    )
    return await retrying(replay_then_gated)
