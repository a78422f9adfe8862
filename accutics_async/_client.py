"""AccuticsClient: configuration, lifecycle, one request with retries, pagination."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import urlsplit

import attrs
import orjson

from . import _retry
from ._auth import TokenProvider, TokenSource
from ._events import EventHooks
from ._models import Response
from ._observe import Observer, retry_cause
from ._pagination import AsyncPager
from ._protocol import (
    Params,
    PathLike,
    build_url,
    decode_response,
    encode_params,
    is_loopback_url,
    parse_retry_after,
    resolve_link,
    validate_base_url,
)
from ._query import Query
from ._ratelimit import LimiterEvent, RateLimiter, SendControl
from ._redact import Redactor, SecretHeaders
from ._retry import RateLimitGate, RetryPolicy, call_with_retries, gate_cap
from ._search import Filter, Search
from ._timeout import Timeout, as_timeout
from ._transport import RawResponse, Transport
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    UnsafeURLError,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AccuticsClient"]

T = TypeVar("T")

log = logging.getLogger("accutics_async")

_DEFAULT_RETRY = RetryPolicy()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UNSAFE_HEADER = re.compile(r"[\r\n\x00]")
_METHOD = re.compile(r"[A-Za-z]+")


@attrs.frozen
class _Call:
    """One call's request, as every attempt (and redirect hop) of it sends it."""

    method: str
    url: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]  # without Authorization: added per attempt
    body: bytes | None
    timeout: Timeout | None


def _check_number(name: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ConfigurationError(f"{name} must be a number >= {minimum}, got {value!r}")


def _retry_clock() -> float:
    return _retry._clock()


def _retry_sleep(seconds: float) -> Awaitable[None]:
    return _retry._sleep(seconds)


def _check_positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")
    ):
        raise ConfigurationError(f"{name} must be a number > 0, got {value!r}")


def _check_ssl(value: object, base_url: str, allow_insecure: bool) -> None:
    if not isinstance(value, (SSLContext, bool)):
        raise ConfigurationError(
            f"ssl must be an ssl.SSLContext, True or False, got {type(value).__name__}"
        )
    # Without certificate checks anyone on the path can read the token:
    # allowed for loopback tests, or when the caller says so explicitly.
    if value is False and not (allow_insecure or is_loopback_url(base_url)):
        raise ConfigurationError(
            "ssl=False turns off certificate checks; it is allowed for a loopback "
            "base_url, or with allow_insecure=True"
        )


def _check_proxy(proxy: object) -> None:
    if proxy is None:
        return
    parts = urlsplit(proxy) if isinstance(proxy, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not quoted: a proxy URL can carry a password.
        raise ConfigurationError("proxy must be an http:// or https:// URL with a host")


def _bearer(token: str) -> SecretHeaders:
    # The token travels down the send path only inside this, whose repr hides
    # it: a traceback that shows locals (pytest -l, rich) prints every local.
    return SecretHeaders({"Authorization": f"Bearer {token}"})


def _token_of(auth: SecretHeaders) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


class AccuticsClient:
    """An async client for the Accutics Open API.

    ``token`` falls back to ``$ACCUTICS_TOKEN`` and ``base_url`` to
    ``$ACCUTICS_BASE_URL``; either missing raises ``ConfigurationError`` here,
    before any request. Use it as an async context manager, or call
    :meth:`close`. A ``session`` you pass in is used but never closed.

    ``timeout`` bounds one attempt (seconds); ``max_concurrency`` bounds this
    client's requests in flight, all callers together; ``retry`` is a
    :class:`RetryPolicy` or ``None`` for no retries; ``max_response_bytes``
    caps one body, so a broken server cannot exhaust memory.

    ``rate_limit`` caps the requests per second of this client, all callers
    together (``None``: no fixed cap). ``adaptive`` (on by default) slows
    the client down to the server's limit after a 429 and speeds it up again
    while answers succeed, never above ``rate_limit`` or ``max_concurrency``.
    """

    def __init__(
        self,
        token: str | TokenProvider | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout = 30.0,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        max_concurrency: int = 8,
        session: aiohttp.ClientSession | None = None,
        allow_insecure: bool = False,
        user_agent: str | None = None,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_redirects: int = 5,
        ssl: SSLContext | bool = True,
        proxy: str | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        event_hooks: EventHooks | None = None,
        rate_limit: float | None = None,
        adaptive: bool = True,
    ) -> None:
        self._tokens = TokenSource(token)
        # Built again whenever the token source has seen a new token.
        self._redactor_cache = (0, Redactor(None))
        self._base_url = validate_base_url(
            base_url or os.environ.get("ACCUTICS_BASE_URL"), allow_insecure=allow_insecure
        )
        default_timeout = as_timeout(timeout)
        _check_number("max_response_bytes", max_response_bytes, 1)
        _check_number("max_redirects", max_redirects, 0)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be an int >= 1, got {max_concurrency}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy or None")
        if rate_limit is not None:
            _check_positive("rate_limit", rate_limit)
        if not isinstance(adaptive, bool):
            raise ConfigurationError(f"adaptive must be True or False, got {adaptive!r}")
        if user_agent is not None and _UNSAFE_HEADER.search(user_agent):
            raise ConfigurationError("user_agent contains CR, LF or NUL")
        _check_ssl(ssl, self._base_url, allow_insecure)
        _check_proxy(proxy)
        self._retry = retry
        self._max_concurrency = max_concurrency
        self._max_redirects = int(max_redirects)
        # Observability: hooks, spans and metrics (see _observe.py).
        self._observer = Observer(event_hooks, redact=self._redact_text, base_url=self._base_url)
        self._gate = RateLimitGate(on_pause=self._observer.pause)
        self._gate_cap = gate_cap(retry)
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or self.default_user_agent(),
        }
        self._transport = Transport(
            session=session,
            timeout=default_timeout,
            max_concurrency=max_concurrency,
            max_response_bytes=int(max_response_bytes),
            ssl=ssl,
            proxy=proxy,
            trace_configs=trace_configs,
        )
        #: Counters: ``requests`` (calls), ``attempts``, ``retries.<reason>`` (an
        #: HTTP ``status_NNN``, a ``TransportError.kind`` or a ``DecodeError.kind``),
        #: ``token_refreshes`` and the rate limiter's ``limiter.<decision>``
        #: (see LimiterEvent).
        self.stats: Counter[str] = Counter()
        self._limiter: RateLimiter | None = None
        if adaptive or rate_limit is not None:
            control = SendControl(
                rate_limit=None if rate_limit is None else float(rate_limit),
                max_concurrency=max_concurrency,
                adaptive=adaptive,
                # The shared 429 gate's cap: a longer Retry-After pauses nobody.
                max_pause=self._gate_cap,
                on_event=self._limiter_event,
            )
            # Through the retry module's seams, so a test's fake clock paces both.
            self._limiter = RateLimiter(control, clock=_retry_clock, sleep=_retry_sleep)

    @staticmethod
    def default_user_agent() -> str:
        """``accutics-async/<version> python/<major.minor>``."""
        return f"accutics-async/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def retry(self) -> RetryPolicy | None:
        return self._retry

    @property
    def max_concurrency(self) -> int:
        """The most requests this client has in flight, all callers together."""
        return self._max_concurrency

    @property
    def observer(self) -> Observer:
        """This client's event hooks and OpenTelemetry front, for the layers built on it.

        Export and sync open their operations through it; see ``_observe``.
        """
        return self._observer

    @property
    def redactor(self) -> Redactor:
        """The redactor for every token seen so far (a provider may have handed out more).

        Text from the server (links, messages) goes through it before it
        reaches a log line, an exception or a file.
        """
        seen, redactor = self._redactor_cache
        secrets = self._tokens.secrets
        if seen != len(secrets):  # the list only grows
            self._redactor_cache = (len(secrets), redactor := Redactor(secrets))
        return redactor

    def __repr__(self) -> str:
        # The token is deliberately absent: reprs end up in logs and tracebacks.
        return f"AccuticsClient(base_url={self._base_url!r}, token=<redacted>)"

    async def __aenter__(self) -> AccuticsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release connections. Idempotent; a borrowed session stays open."""
        await self._transport.close()

    # -- single requests -------------------------------------------------

    async def request(
        self,
        method: str,
        path: PathLike,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """Send one request (retried per the policy) and return the decoded :class:`Response`.

        ``path`` is relative to ``base_url`` (``"records"`` and ``"/records"``
        both go under its path), a sequence of raw segments that are
        percent-encoded one by one (``("records", record_id)``), or an
        absolute URL on the base origin. ``timeout`` replaces the client's
        for each attempt of this call; ``deadline`` (seconds) bounds the
        whole call, retries included, replacing the policy's. Raises an
        ``APIError`` subclass for an error answer, ``TransportError``,
        ``DecodeError``, ``UnsafeURLError`` or ``InvalidRequestError``.
        """
        if self._transport.closed:
            raise ConfigurationError("this AccuticsClient is closed")
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            # aiohttp would raise a bare ValueError; refuse it as ours, early.
            raise InvalidRequestError(f"invalid HTTP method {method!r}")
        method = method.upper()
        url = build_url(self._base_url, path)
        query = encode_params(params)
        body = None
        extra = dict(headers) if headers else {}
        if json is not None:
            try:
                body = orjson.dumps(json)
            except TypeError as exc:
                raise InvalidRequestError(f"request body is not JSON-serialisable: {exc}") from None
            if not any(name.lower() == "content-type" for name in extra):
                extra["Content-Type"] = "application/json"
        for name, value in extra.items():
            if _UNSAFE_HEADER.search(name) or _UNSAFE_HEADER.search(value):
                raise InvalidRequestError(f"header {name!r} contains CR, LF or NUL")
            if name.lower() == "authorization":
                raise InvalidRequestError("the Authorization header is set by the client")
        if deadline is not None:
            _check_number("deadline", deadline, 0.001)
        call = _Call(
            method,
            url,
            query,
            {**self._headers, **extra},
            body,
            None if timeout is None else as_timeout(timeout),
        )
        self.stats["requests"] += 1
        attempt_number = 0
        refreshed = False
        observed = self._observer.call(method, url, query)

        async def observed_attempt(auth: SecretHeaders, ends_at: float | None) -> Response:
            nonlocal attempt_number
            attempt_number += 1
            number = attempt_number
            # Each request on the wire is one observed attempt, the resend
            # after a 401 included, so hooks, spans and stats agree.
            return await observed.attempt(
                number, lambda: self._attempt(call, auth, number, ends_at)
            )

        async def attempt(ends_at: float | None) -> Response:
            nonlocal refreshed
            auth = _bearer(await self._tokens.get())
            try:
                return await observed_attempt(auth, ends_at)
            except AuthenticationError:
                if refreshed or not self._tokens.refreshable:
                    raise
            # The token may have expired (a JWT, during a long export): ask
            # for a fresh one and repeat the request once with it.
            refreshed = True
            self.stats["token_refreshes"] += 1
            auth = _bearer(await self._tokens.refresh(_token_of(auth)))
            return await observed_attempt(auth, ends_at)

        async def on_retry(exc: BaseException, sleep: float, number: int) -> None:
            self._count_retry(exc, sleep, number)
            await observed.retry(exc, sleep, number)

        with observed:
            return await call_with_retries(
                attempt,
                method=method,
                policy=self._retry,
                deadline=deadline,
                on_retry=on_retry,
            )

    async def get(
        self,
        path: PathLike,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """``request("GET", ...)``."""
        return await self.request(
            "GET", path, params=params, headers=headers, timeout=timeout, deadline=deadline
        )

    async def post(
        self,
        path: PathLike,
        *,
        json: Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """``request("POST", ...)``; not retried by the default policy."""
        return await self.request(
            "POST",
            path,
            json=json,
            params=params,
            headers=headers,
            timeout=timeout,
            deadline=deadline,
        )

    async def put(
        self,
        path: PathLike,
        *,
        json: Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """``request("PUT", ...)``."""
        return await self.request(
            "PUT",
            path,
            json=json,
            params=params,
            headers=headers,
            timeout=timeout,
            deadline=deadline,
        )

    async def patch(
        self,
        path: PathLike,
        *,
        json: Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """``request("PATCH", ...)``; not retried by the default policy."""
        return await self.request(
            "PATCH",
            path,
            json=json,
            params=params,
            headers=headers,
            timeout=timeout,
            deadline=deadline,
        )

    async def delete(
        self,
        path: PathLike,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        deadline: float | None = None,
    ) -> Response:
        """``request("DELETE", ...)``."""
        return await self.request(
            "DELETE", path, params=params, headers=headers, timeout=timeout, deadline=deadline
        )

    async def _attempt(
        self, call: _Call, auth: SecretHeaders, attempt_number: int, ends_at: float | None
    ) -> Response:
        started = time.perf_counter()
        outcome = "error"
        self.stats["attempts"] += 1
        try:
            raw, final_url = await self._send_following_redirects(call, auth, ends_at)
            outcome = str(raw.status)
            return decode_response(raw.status, raw.headers, raw.body, url=final_url)
        except Exception as exc:
            if outcome == "error":
                outcome = type(exc).__name__
            self._redact_exception(exc)
            raise
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)",
                    call.method,
                    self._redact_text(call.url),
                    outcome,
                    (time.perf_counter() - started) * 1000.0,
                    attempt_number,
                )

    async def _send_following_redirects(
        self, call: _Call, auth: SecretHeaders, ends_at: float | None
    ) -> tuple[RawResponse, str]:
        """The first non-redirect answer (redacted) and the URL it came from."""
        method, url, query, body = call.method, call.url, call.query, call.body
        headers = auth.with_extra(call.headers)
        # aiohttp's own redirect handling is off: it would carry the
        # Authorization header to whatever host a Location names.
        for _ in range(self._max_redirects + 1):
            raw = self._redact_raw(
                await self._send(method, url, query, headers, body, call.timeout, ends_at)
            )
            location = raw.headers.get("Location")
            if raw.status not in _REDIRECTS or not location:
                return raw, url
            try:
                url = resolve_link(url, location, self._base_url)
            except UnsafeURLError as exc:
                raise UnsafeURLError(f"refusing a redirect off the base origin: {exc}") from None
            query = ()
            if raw.status == 303 or (raw.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise APIError(f"more than {self._max_redirects} redirects", status=raw.status)

    async def _send(
        self,
        method: str,
        url: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout | None,
        ends_at: float | None,
    ) -> RawResponse:
        """Put one HTTP request on the wire and return its answer.

        Every request of this client passes here, each redirect hop and
        retry included: this is the one place where a request, holding its
        concurrency slot, is about to be sent.
        """
        async with self._transport.slot():
            # The 429 gate is checked only now, with the slot held: a call
            # that queued for a slot while another got a 429 must not slip
            # out before that pause is over.
            await self._gate.wait(self._gate_cap, ends_at)
            raw = await self._paced_send(method, url, query, headers, body, timeout)
            if raw.status == 429:
                # Closed before the slot is released, so the call queued for
                # the slot already sees the pause.
                pause = parse_retry_after(raw.headers.get("Retry-After"))
                if pause is not None and pause <= self._gate_cap:
                    self._gate.close_for(pause)
            return raw

    def _redact_raw(self, raw: RawResponse) -> RawResponse:
        """``raw`` with every token, in any spelling, out of its body and headers.

        Done first thing, so nothing after it (decoding, a redirect's
        ``Location``, ``Response.url``, records, links, checkpoints, error
        messages, a traceback's locals) ever holds what a server echoed.
        """
        redact = self.redactor
        body, headers = redact.bytes(raw.body), redact.headers(raw.headers)
        if body is raw.body and headers is raw.headers:
            return raw
        return RawResponse(raw.status, headers, body)

    async def _paced_send(
        self,
        method: str,
        url: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout | None,
    ) -> RawResponse:
        """``Transport.send``, paced by the rate limiter when there is one."""
        limiter = self._limiter
        if limiter is None:
            return await self._transport.send(
                method, url, params=query, headers=headers, body=body, timeout=timeout
            )
        ticket = await limiter.acquire()
        raw: RawResponse | None = None
        try:
            raw = await self._transport.send(
                method, url, params=query, headers=headers, body=body, timeout=timeout
            )
            return raw
        finally:
            # No answer (a reset, a timeout, a cancellation) frees the slot too.
            limiter.answered(ticket, raw.status if raw else None, raw.headers if raw else None)

    def _limiter_event(self, event: LimiterEvent) -> None:
        self.stats[f"limiter.{event.kind}"] += 1
        rate = "none" if event.rate is None else f"{event.rate:.1f}/s"
        log.debug(
            "rate limiter: %s (rate %s, %d in flight, pause %.3fs)",
            event.kind,
            rate,
            event.concurrency,
            event.seconds,
        )

    def _redact_text(self, text: str) -> str:
        # A URL is the server's text too (a next link or redirect could embed
        # the token), and it goes into log records.
        return self.redactor.text(text)

    def _redact_exception(self, exc: BaseException) -> None:
        """Remove every token seen from ``exc`` and the exceptions chained to it, in place."""
        self.redactor.exception(exc)

    def _count_retry(self, exc: BaseException, sleep: float, attempt: int) -> None:
        reason = retry_cause(exc)
        self.stats[f"retries.{reason}"] += 1
        log.info("retrying after %s in %.2fs (attempt %d failed)", reason, sleep, attempt)

    # -- pagination ------------------------------------------------------

    @overload
    def paginate(
        self,
        path: PathLike,
        *,
        params: Params | None = ...,
        search: Search | Filter | str | None = ...,
        sort: str | Sequence[str] | None = ...,
        page_size: int | None = ...,
        model: None = ...,
        concurrency: int = ...,
        max_items: int | None = ...,
        max_pages: int | None = ...,
        resume: Mapping[str, Any] | None = ...,
    ) -> AsyncPager[dict[str, Any]]: ...

    @overload
    def paginate(
        self,
        path: PathLike,
        *,
        params: Params | None = ...,
        search: Search | Filter | str | None = ...,
        sort: str | Sequence[str] | None = ...,
        page_size: int | None = ...,
        model: type[T],
        concurrency: int = ...,
        max_items: int | None = ...,
        max_pages: int | None = ...,
        resume: Mapping[str, Any] | None = ...,
    ) -> AsyncPager[T]: ...

    def paginate(
        self,
        path: PathLike,
        *,
        params: Params | None = None,
        search: Search | Filter | str | None = None,
        sort: str | Sequence[str] | None = None,
        page_size: int | None = None,
        model: type[Any] | None = None,
        concurrency: int = 1,
        max_items: int | None = None,
        max_pages: int | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> AsyncPager[Any]:
        """An :class:`AsyncPager` over every item of a listing, following ``next`` links.

        Nothing is requested until the pager is iterated. Bad ``search``/``sort``
        raise ``SearchSyntaxError`` here; a ``resume`` checkpoint for another
        query raises ``PaginationError``.
        """
        query = Query.of(
            path,
            params=params,
            search=search,
            sort=sort,
            page_size=page_size,
            max_items=max_items,
            max_pages=max_pages,
        )
        return AsyncPager(self, query, model=model, concurrency=concurrency, resume=resume)
