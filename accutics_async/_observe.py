"""Observability behind one small interface: event hooks and native OpenTelemetry.

The client, the pager and export call a few methods of :class:`Observer`
(one per client); nothing else in the library knows about hooks or
OpenTelemetry:

- ``observer.call(method, url, query)``: a :class:`Call` around one call
  (``with call:``), with ``await call.attempt(n, send)`` around each attempt (``send(wire)``
  makes it, adding its time on the wire to ``wire``)
  and ``await call.retry(exc, sleep, n)`` before each backoff;
- ``await observer.pause(seconds)``: a request held by the shared 429 gate;
- ``await observer.page(url, number, items, elapsed)``: a page fetched;
- ``observer.walk(url, concurrency)`` and ``observer.operation(name, attrs)``:
  an :class:`Operation` span for a pagination walk, or for an export or a
  sync (``with client.observer.operation("accutics.sync", {...}) as op:``).

OpenTelemetry is loaded once, optionally, by :mod:`._telemetry` (its
tracer, instruments and span calls); this module reads
``_telemetry.TELEMETRY`` at each use. Without the package each method above
is a check or two.

The token: every URL is passed through the client's redactor before it
becomes a span attribute, a span event or a hook's event; recorded exception
messages and stack traces are redacted too (the SDK's automatic exception
recording is not used); metric attributes hold only the method, the server,
a status and short causes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from . import _telemetry
from ._events import (
    PageEvent,
    PauseEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    check_hooks,
    dispatch,
)
from ._sansio.query import with_params
from ._send import WireTime
from ._telemetry import attach, current_span, detach, error_type, record_error
from .errors import APIError

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context

__all__ = ["Observer", "Operation", "retry_cause"]

T = TypeVar("T")
AttributeValue = str | int | float | bool
Redact = Callable[[str], str]


def retry_cause(exc: BaseException) -> str:
    """The cause a retry is counted under (``client.stats["retries.<cause>"]``, the metric)."""
    if isinstance(exc, APIError):
        return f"status_{exc.status}"
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) and kind else type(exc).__name__


def _redacted(
    attributes: Mapping[str, AttributeValue], redact: Redact
) -> dict[str, AttributeValue]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in attributes.items()}


class Operation:
    """One span over a longer piece of work: a pagination walk, an export, a sync.

    As a context manager (in a coroutine) the span is current inside the
    block. A walk is an async generator, whose code runs in its consumer's
    context between yields; it must not make its span current there, so it
    calls :meth:`finish` itself and hands the span to each fetch with
    :meth:`within`.
    """

    __slots__ = ("_redact", "_span", "_token")

    def __init__(self, span: Any, redact: Redact) -> None:
        self._span = span
        self._redact = redact
        self._token: Token[Context] | None = None

    def set(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self._span is not None and self._span.is_recording():
            self._span.set_attributes(_redacted(attributes, self._redact))

    def within(self) -> _Attached:
        """A ``with`` block in which this span is the current one (for one awaited fetch)."""
        return _Attached(self._span)

    def finish(self, exc: BaseException | None = None) -> None:
        """End the span (idempotent); an ``Exception`` marks it failed, cancellation does not."""
        span, self._span = self._span, None
        if span is None:
            return
        if isinstance(exc, Exception) and span.is_recording():
            record_error(span, exc, self._redact)
        span.end()

    def __enter__(self) -> Operation:
        self._token = attach(self._span)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        detach(token)
        self.finish(exc)


class _Attached:
    __slots__ = ("_span", "_token")

    def __init__(self, span: Any) -> None:
        self._span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> None:
        self._token = attach(self._span)

    def __exit__(self, *exc_info: object) -> None:
        detach(self._token)


class Call:
    """One call (every attempt of one request): its span, hooks and metrics."""

    __slots__ = (
        "_attempts",
        "_observer",
        "_query",
        "_span",
        "_started",
        "_status",
        "_token",
        "_url",
        "_url_full",
        "method",
    )

    def __init__(
        self, observer: Observer, method: str, url: str, query: Sequence[tuple[str, str]]
    ) -> None:
        self._observer = observer
        self.method = method
        self._url = url
        self._query = query
        self._url_full: str | None = None
        self._span: Any = None
        self._token: Token[Context] | None = None
        self._started = time.perf_counter()
        self._status: int | None = None
        self._attempts = 0

    @property
    def url(self) -> str:
        """The URL sent, query included, with the token redacted (computed once, when needed)."""
        if self._url_full is None:
            # Joined as the transport joins params= to the URL, so this is the URL sent.
            self._url_full = self._observer.redact(with_params(self._url, self._query))
        return self._url_full

    def __enter__(self) -> Call:
        telemetry = _telemetry.TELEMETRY
        if telemetry is not None:
            span = telemetry.client_span(self.method)
            if span.is_recording():
                attributes: dict[str, AttributeValue] = {
                    "http.request.method": self.method,
                    "url.full": self.url,
                }
                span.set_attributes(attributes | self._observer.server)
            # Current while the attempts run, so that spans of an aiohttp
            # instrumentation (one per attempt) are its children.
            self._token = attach(span)
            self._span = span
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        if span is None:
            return
        detach(self._token)
        if span.is_recording():
            if self._status is not None:
                span.set_attribute("http.response.status_code", self._status)
            if self._attempts > 1:
                span.set_attribute("http.request.resend_count", self._attempts - 1)
            if isinstance(exc, Exception):
                record_error(span, exc, self._observer.redact)
        span.end()

    async def attempt(self, number: int, send: Callable[[WireTime | None], Awaitable[T]]) -> T:
        """Run ``send(wire)`` (attempt ``number``), reporting it before and after.

        Its end is reported once, whatever ends it: a cancellation (the
        call's deadline, the caller's) too, with no status, before it
        propagates. Its duration is ``wire``'s, the request's own time: not
        the hooks', nor the client's waits before sending (a slot, the 429
        gate, the rate limiter), nor a page's wait for its turn after.
        ``send`` is called only after the request hooks: a call cut off while
        a hook runs leaves no coroutine behind unawaited.
        """
        observer = self._observer
        self._attempts = number
        wire = WireTime()
        try:
            if observer.hooks["request"]:
                await dispatch("request", observer.hooks["request"], self._request_event(number))
            result = await send(wire)
        except (Exception, asyncio.CancelledError) as exc:
            status = exc.status if isinstance(exc, APIError) else getattr(exc, "status", None)
            await self._attempt_done(number, status, error_type(exc), wire.seconds)
            raise
        await self._attempt_done(number, getattr(result, "status", None), None, wire.seconds)
        return result

    def _request_event(self, number: int) -> RequestEvent:
        return RequestEvent(self.method, self.url, number)

    async def _attempt_done(
        self, number: int, status: int | None, error: str | None, elapsed: float
    ) -> None:
        self._status = status if isinstance(status, int) else None
        observer = self._observer
        telemetry = _telemetry.TELEMETRY
        if telemetry is not None:
            attributes: dict[str, AttributeValue] = {"http.request.method": self.method}
            attributes |= observer.server
            if self._status is not None:
                attributes["http.response.status_code"] = self._status
            if error is not None:
                attributes["error.type"] = error
            telemetry.duration.record(elapsed, attributes)
            span = self._span
            if span is not None and span.is_recording():
                event = {k: v for k, v in attributes.items() if k not in observer.server}
                span.add_event(
                    "attempt", event | {"accutics.attempt": number, "duration_s": elapsed}
                )
        if observer.hooks["response"]:
            event_value = ResponseEvent(self.method, self.url, number, self._status, elapsed, error)
            await dispatch("response", observer.hooks["response"], event_value)

    async def retry(self, exc: BaseException, sleep: float, number: int) -> None:
        """Attempt ``number`` failed with ``exc``; the next starts after ``sleep`` seconds."""
        cause = retry_cause(exc)
        observer = self._observer
        telemetry = _telemetry.TELEMETRY
        if telemetry is not None:
            attributes: dict[str, AttributeValue] = {
                "http.request.method": self.method,
                "accutics.retry.cause": cause,
            }
            telemetry.retries.add(1, attributes | observer.server)
            span = self._span
            if span is not None and span.is_recording():
                span.add_event(
                    "retry",
                    {"accutics.attempt": number, "accutics.retry.cause": cause, "sleep_s": sleep},
                )
        if observer.hooks["retry"]:
            status = exc.status if isinstance(exc, APIError) else None
            elapsed = time.perf_counter() - self._started
            event = RetryEvent(self.method, self.url, number, cause, status, sleep, elapsed)
            await dispatch("retry", observer.hooks["retry"], event)


class _QuietCall(Call):
    """The call when there is neither telemetry nor a hook: nothing to do, nothing built."""

    __slots__ = ()

    def __init__(self) -> None:
        pass

    def __enter__(self) -> Call:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def attempt(self, number: int, send: Callable[[WireTime | None], Awaitable[T]]) -> T:
        return await send(None)

    async def retry(self, exc: BaseException, sleep: float, number: int) -> None:
        return None


_QUIET = _QuietCall()


class Observer:
    """A client's hooks and telemetry; see the module docstring for the interface."""

    __slots__ = ("_any_call_hook", "hooks", "redact", "server")

    def __init__(self, hooks: Mapping[str, Any] | None, *, redact: Redact, base_url: str) -> None:
        self.hooks = check_hooks(hooks)
        self._any_call_hook = any(self.hooks[n] for n in ("request", "response", "retry"))
        self.redact = redact
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.server: dict[str, AttributeValue] = {
            "server.address": parts.hostname or "",
            "server.port": port,
        }

    def call(self, method: str, url: str, query: Sequence[tuple[str, str]] = ()) -> Call:
        if _telemetry.TELEMETRY is None and not self._any_call_hook:
            return _QUIET
        return Call(self, method, url, query)

    async def pause(self, seconds: float) -> None:
        """A request waits ``seconds`` at the client's 429 gate."""
        telemetry = _telemetry.TELEMETRY
        if telemetry is not None:
            telemetry.pauses.record(seconds, self.server)
            span = current_span()
            if span.is_recording():
                span.add_event("pause", {"accutics.pause_s": seconds})
        if self.hooks["pause"]:
            await dispatch("pause", self.hooks["pause"], PauseEvent(seconds))

    async def page(self, url: str, number: int, items: int, elapsed: float) -> None:
        """A pager fetched page ``number`` holding ``items`` items."""
        telemetry = _telemetry.TELEMETRY
        if telemetry is not None:
            telemetry.pages.add(1, self.server)
            telemetry.items.add(items, self.server)
        if self.hooks["page"]:
            event = PageEvent(self.redact(url), number, items, elapsed)
            await dispatch("page", self.hooks["page"], event)

    def walk(self, url: str | None, concurrency: int) -> Operation:
        """The span of one pagination walk (not current: see :class:`Operation`)."""
        attributes: dict[str, AttributeValue] = {"accutics.concurrency": concurrency}
        if url is not None:
            attributes["url.full"] = self.redact(url)
        return self.operation("accutics.paginate", attributes)

    def operation(self, name: str, attributes: Mapping[str, AttributeValue]) -> Operation:
        """A span named ``name`` (use as ``with``, or call ``finish``)."""
        telemetry = _telemetry.TELEMETRY
        if telemetry is None:
            return Operation(None, self.redact)
        span = telemetry.tracer.start_span(name)
        if span.is_recording():
            span.set_attributes(_redacted({**attributes, **self.server}, self.redact))
        return Operation(span, self.redact)
