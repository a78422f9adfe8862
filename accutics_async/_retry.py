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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .errors import APIError, ConfigurationError, DecodeError, RateLimitError, TransportError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "RateLimitGate",
    "RetryPolicy",
    "call_with_retries",
    "disable_retries",
    "gate_cap",
]

T = TypeVar("T")

# Used for the 429 gate when retries are off: a client still waits out a
# short Retry-After rather than hammer a server that asked it to pause.
_DEFAULT_GATE_CAP = 30.0

# A pause with less than this left is over. Two readings of one HTTP-date
# Retry-After (the gate's and the retry wait's) differ by microseconds, and
# sleeping those again would be noise.
_GATE_SLACK = 0.001

_enabled = True

# Seams for tests: the retry loop and the 429 gate sleep through ``_sleep``,
# and the gate and the ``deadline`` read time through ``_clock``. Both are
# looked up when used, so a test can swap in a fake clock without patching
# asyncio or time for the whole event loop.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
_clock: Callable[[], float] = time.monotonic


def clock() -> float:
    """The time the retry loop, the 429 gate and the rate limiter read (a test's seam)."""
    return _clock()


def sleep(seconds: float) -> Awaitable[None]:
    """How they wait (a test's seam, like :func:`clock`)."""
    return _sleep(seconds)


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


def _methods(value: Any) -> tuple[str, ...]:
    # A lone "GET" is iterable too: its letters would silently retry nothing.
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"RetryPolicy.retry_methods must be a sequence of method names such as "
            f'("GET", "PUT"), got {value!r}'
        )
    methods = tuple(value)
    if not all(isinstance(m, str) and m.strip() == m and m for m in methods):
        raise ConfigurationError(f"RetryPolicy.retry_methods holds a non-method: {methods!r}")
    return tuple(m.upper() for m in methods)


def _statuses(value: Any) -> tuple[int, ...]:
    # Statuses read from a config file as text ("503") would never match one.
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"RetryPolicy.retry_statuses must be a sequence of HTTP statuses such as "
            f"(429, 503), got {value!r}"
        )
    statuses = tuple(value)
    for status in statuses:
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ConfigurationError(
                f"RetryPolicy.retry_statuses must hold HTTP statuses (ints 100-599), got {status!r}"
            )
    return statuses


# Methods whose repeat gets the same answer: after a 2xx whose body was cut
# short or is not JSON, the request was carried out, and only these are worth sending again
# (a second DELETE answers 404, a second POST creates another record).
_SAME_ANSWER_AGAIN = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})


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
    - ``deadline``: optional hard bound in seconds on one call, retries and
      waits included: an attempt still running when it runs out is cut off,
      no retry starts whose wait would reach past it, and the call then
      raises ``TransportError(kind="deadline")`` (the last failure as its
      ``__cause__``). A per-call ``deadline=`` wins over this one.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=30.0, validator=_positive)
    retry_statuses: tuple[int, ...] = attrs.field(
        default=(429, 500, 502, 503, 504), converter=_statuses
    )
    retry_methods: tuple[str, ...] = attrs.field(
        default=("GET", "HEAD", "OPTIONS", "PUT", "DELETE"), converter=_methods
    )
    deadline: float | None = attrs.field(default=None, validator=_positive)

    def backoff_ceiling(self, attempt: int) -> float:
        """The most attempt number ``attempt`` (1-based) may wait before the next."""
        # The exponent is capped first: 2.0 ** 1024 raises OverflowError,
        # and a long max_attempts with a short max_backoff gets there.
        return min(self.max_backoff, self.backoff * 2.0 ** min(attempt - 1, 1000))

    def should_retry(self, method: str, exc: BaseException) -> bool:
        """Whether ``exc`` from one attempt of ``method`` is worth another attempt."""
        if method.upper() not in self.retry_methods:
            return False
        if isinstance(exc, TransportError):
            if exc.status is not None and 200 <= exc.status < 300:
                return method.upper() in _SAME_ANSWER_AGAIN
            # Out of time, or closed: another attempt cannot do better.
            return exc.kind not in ("deadline", "closed")
        if isinstance(exc, DecodeError):  # only ever of a 2xx: the request was carried out
            return exc.kind == "not_json" and method.upper() in _SAME_ANSWER_AGAIN
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
        # None until the first pause: a fake clock may sit at any time, 0 included.
        self._reopens_at: float | None = None

    def _now(self) -> float:
        return (self._clock or _clock)()

    @property
    def ever_closed(self) -> bool:
        """Whether a pause was ever set: a gate never closed needs no waiting."""
        return self._reopens_at is not None

    def close_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (never shortens a pause)."""
        reopens_at = self._now() + seconds
        if self._reopens_at is None or reopens_at > self._reopens_at:
            self._reopens_at = reopens_at

    def remaining(self) -> float:
        """Seconds until the gate reopens (0 when open)."""
        if self._reopens_at is None:
            return 0.0
        return max(0.0, self._reopens_at - self._now())

    async def wait(self, cap: float, ends_at: float | None = None) -> None:
        """Wait until the gate is open.

        Raises ``RateLimitError`` if the pause is over ``cap`` seconds, and
        ``TransportError(kind="deadline")`` if it lasts past ``ends_at`` (a
        time on the module clock): waiting would only end in the deadline.
        """
        while (left := self.remaining()) > _GATE_SLACK:
            if left > cap:
                raise RateLimitError(
                    f"the API asked this client to pause for {left:.1f}s, "
                    f"more than the retry policy's cap of {cap:.1f}s",
                    status=429,
                    retry_after=left,
                )
            if ends_at is not None and self._now() + left > ends_at:
                raise deadline_error(
                    f"the API asked this client to pause for {left:.1f}s, past this call's deadline"
                )
            if self._on_pause is not None:
                await self._on_pause(left)
                # A slow hook must not lengthen the pause: sleep what is left.
                left = self.remaining()
            await _sleep(left)


def gate_cap(policy: RetryPolicy | None) -> float:
    """The longest 429 pause a client with ``policy`` waits out at its gate."""
    return policy.max_backoff if policy is not None else _DEFAULT_GATE_CAP


def deadline_error(why: str) -> TransportError:
    return TransportError(f"deadline exceeded: {why}", kind="deadline")


OnRetry = Callable[[BaseException, float, int], Awaitable[None] | None]


async def call_with_retries(
    attempt: Callable[[float | None], Awaitable[T]],
    *,
    method: str,
    policy: RetryPolicy | None,
    deadline: float | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` under ``policy`` and return its result.

    ``attempt(ends_at)`` is given the time (on the module clock) its call's
    deadline runs out, or ``None``: waits inside it (the 429 gate) can give
    up early instead of being cut off. ``deadline`` (else the policy's) is a
    hard bound: an attempt still running then is cancelled, and the call
    raises ``TransportError(kind="deadline")``. The final failure is
    otherwise re-raised as the library's own typed error, never tenacity's
    ``RetryError``. ``on_retry(exc, sleep_seconds, attempt_number)`` is
    called (and awaited, if it returns an awaitable) before each backoff sleep.
    """
    limit = deadline if deadline is not None else policy.deadline if policy is not None else None
    ends_at = None if limit is None else _clock() + limit

    last_failure: Exception | None = None  # the deadline error's cause: why it took so long

    async def bounded() -> T:
        nonlocal last_failure
        if ends_at is None:
            return await attempt(None)
        left = ends_at - _clock()
        if left <= 0:
            raise deadline_error(f"no time left for an attempt within {limit}s") from last_failure
        try:
            # The attempt translates its own timeouts into TransportError, so
            # a TimeoutError here is the deadline's.
            return await asyncio.wait_for(attempt(ends_at), left)
        except asyncio.TimeoutError:
            raise deadline_error(
                f"the attempt was cut off at the {limit}s deadline"
            ) from last_failure
        except Exception as exc:
            last_failure = exc
            raise

    if policy is None or not _enabled or policy.max_attempts == 1:
        return await bounded()

    # Nearly every call succeeds at once, so the first attempt runs without
    # building tenacity's machinery (tens of microseconds a call, as much as
    # a whole page of JSON costs to decode). A failure worth retrying hands
    # over to tenacity, which starts by "running" attempt 1 again: that
    # replays the same exception instead of a request, so numbering, waits,
    # the deadline and on_retry are exactly those of a plain tenacity loop.
    try:
        return await bounded()
    except Exception as exc:
        if not policy.should_retry(method, exc):
            raise
        first_failure: Exception | None = exc

    # Imported on the first retry, not with the package: most processes never
    # retry, and tenacity is about 5 of the 75 ms the library adds to aiohttp's import.
    from tenacity import AsyncRetrying, retry_if_exception

    async def replay_then_bounded() -> T:
        nonlocal first_failure
        if first_failure is not None:
            failure, first_failure = first_failure, None
            raise failure
        return await bounded()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, APIError) else None
        if retry_after is not None:
            return retry_after
        return random.uniform(0.0, policy.backoff_ceiling(state.attempt_number))

    out_of_time = False

    def stop(state: RetryCallState) -> bool:
        nonlocal out_of_time
        if state.attempt_number >= policy.max_attempts:
            return True
        if ends_at is None:
            return False
        # Needs tenacity >= 8.3, which computes upcoming_sleep before stop.
        # An attempt that would start at the deadline could not run at all.
        out_of_time = _clock() + state.upcoming_sleep >= ends_at
        return out_of_time

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
    try:
        return await retrying(replay_then_bounded)
    except Exception as exc:
        if out_of_time:
            raise deadline_error(
                f"{limit}s ran out before another attempt could start (last failure: {exc})"
            ) from exc
        raise
