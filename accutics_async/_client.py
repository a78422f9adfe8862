"""AccuticsClient: configuration, lifecycle, one request with retries, pagination."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._auth import TokenProvider, TokenSource
from ._calls import Caller
from ._events import EventHooks
from ._observe import Observer
from ._pagination import AsyncPager
from ._retry import RetryPolicy, gate_cap
from ._sansio.call import UNSAFE_HEADER, Call
from ._sansio.models import Meta, Response
from ._sansio.protocol import (
    Params,
    PathLike,
    validate_base_url,
)
from ._sansio.query import Query
from ._sansio.redact import Redactor
from ._sansio.search import Filter, Search
from ._sansio.timeout import Timeout, as_timeout
from ._send import Sender
from ._settings import check_number, check_positive, check_proxy, check_ssl
from ._transport import Transport
from ._version import __version__
from .errors import ConfigurationError

if TYPE_CHECKING:
    import aiohttp

    from ._fanout import Turn

__all__ = ["AccuticsClient"]

T = TypeVar("T")

_DEFAULT_RETRY = RetryPolicy()


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
        check_number("max_response_bytes", max_response_bytes, 1)
        check_number("max_redirects", max_redirects, 0)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be an int >= 1, got {max_concurrency}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy or None")
        if rate_limit is not None:
            check_positive("rate_limit", rate_limit)
        if not isinstance(adaptive, bool):
            raise ConfigurationError(f"adaptive must be True or False, got {adaptive!r}")
        if user_agent is not None and UNSAFE_HEADER.search(user_agent):
            raise ConfigurationError(
                "user_agent contains a control character (CR, LF, NUL or another)"
            )
        check_ssl(ssl, self._base_url, allow_insecure)
        check_proxy(proxy)
        self._retry = retry
        self._max_concurrency = max_concurrency
        # Observability: hooks, spans and metrics (see _observe.py).
        # A URL is the server's text too (a next link or redirect could embed the
        # token), and it goes into spans and log records.
        self._observer = Observer(
            event_hooks, redact=lambda text: self.redactor.text(text), base_url=self._base_url
        )
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
        self._sender = Sender(
            self._transport,
            base_url=self._base_url,
            max_redirects=int(max_redirects),
            max_concurrency=max_concurrency,
            gate_cap=gate_cap(retry),
            rate_limit=None if rate_limit is None else float(rate_limit),
            adaptive=adaptive,
            redactor=lambda: self.redactor,
            stats=self.stats,
            on_pause=self._observer.pause,
        )
        self._caller = Caller(
            tokens=self._tokens,
            sender=self._sender,
            observer=self._observer,
            retry=retry,
            stats=self.stats,
        )

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
        if deadline is not None:
            check_number("deadline", deadline, 0.001)
        call = Call.build(
            self._base_url,
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            default_headers=self._headers,
            timeout=None if timeout is None else as_timeout(timeout),
        )
        return await self._caller.run(call, deadline=deadline)

    async def request_page(
        self,
        url: str,
        *,
        on_meta: Callable[[Meta], bool] | None = None,
        turn: Turn | None = None,
    ) -> Response:
        """GET one page of a listing, for an :class:`AsyncPager` (a ``PageSource``).

        As ``request("GET", url)``, plus ``on_meta``: called with each
        successful answer's ``meta`` as soon as it is read and checked, before
        the page's ``data`` is decoded, so the pager can put the next page's
        request on the wire first. If it returns true, the call gives that
        request one event-loop turn to go out before decoding on. It must not
        raise. With ``turn`` (a fan-out page), each successful answer waits
        for it before its ``data`` is decoded, unless the client's retry
        policy sets a deadline, which the consumer's time must not use up.
        """
        if self._transport.closed:
            raise ConfigurationError("this AccuticsClient is closed")
        call = Call.build(
            self._base_url,
            "GET",
            url,
            params=None,
            json=None,
            headers=None,
            default_headers=self._headers,
            timeout=None,
        )
        return await self._caller.run(call, deadline=None, on_meta=on_meta, turn=turn)

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
