"""One attempt on the wire: the concurrency slot, the 429 gate, the rate limiter, redirects.

Every request of a client passes through its :class:`Sender`, each retry
and redirect hop included; the retry loop, the token and the observer stay
in ``_client``. What a server answers is redacted here first thing, so no
later layer ever holds a token it echoed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import _retry
from ._ratelimit import LimiterEvent, RateLimiter, SendControl
from ._retry import RateLimitGate
from ._sansio.call import Call
from ._sansio.envelope import decode_response, peek_meta
from ._sansio.models import Meta, Response
from ._sansio.protocol import resolve_link, retry_after_of
from ._sansio.redact import Redactor, SecretHeaders
from ._sansio.timeout import Timeout
from ._transport import RawResponse, Transport
from .errors import APIError, UnsafeURLError

if TYPE_CHECKING:
    from ._fanout import Turn

__all__ = ["Sender", "WireTime"]

log = logging.getLogger("accutics_async")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class WireTime:
    """The seconds one attempt spent on the wire, its redirect hops added up.

    Each request counts from when it is handed to the transport to when its
    answer is read: the waits before (a concurrency slot, the 429 gate, the
    rate limiter) are the client's, not the server's, and decoding is not HTTP.
    """

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0


class Sender:
    """Puts a client's attempts on the wire, within its limits, and redacts the answers."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        max_redirects: int,
        max_concurrency: int,
        gate_cap: float,
        rate_limit: float | None,
        adaptive: bool,
        redactor: Callable[[], Redactor],
        stats: Counter[str],
        on_pause: Callable[[float], Awaitable[None]],
    ) -> None:
        self._transport = transport
        self._base_url = base_url
        self._max_redirects = max_redirects
        self._redactor = redactor
        self._stats = stats
        self._gate = RateLimitGate(on_pause=on_pause)
        self._gate_cap = gate_cap
        self._limiter: RateLimiter | None = None
        if adaptive or rate_limit is not None:
            control = SendControl(
                rate_limit=rate_limit,
                max_concurrency=max_concurrency,
                adaptive=adaptive,
                # The shared 429 gate's cap: a longer Retry-After pauses nobody.
                max_pause=gate_cap,
                on_event=self._limiter_event,
            )
            # Through the retry module's seams, so a test's fake clock paces both.
            self._limiter = RateLimiter(control, clock=_retry.clock, sleep=_retry.sleep)

    async def attempt(
        self,
        call: Call,
        auth: SecretHeaders,
        attempt_number: int,
        ends_at: float | None,
        on_meta: Callable[[Meta], bool] | None = None,
        turn: Turn | None = None,
        wire: WireTime | None = None,
    ) -> Response:
        """One attempt's decoded answer; ``on_meta`` sees a success's ``meta`` before its ``data``.

        ``wire``, if given, adds up the attempt's time on the wire.

        A pager uses ``on_meta`` to start the next page's request; if it
        says it did, this attempt yields one event-loop turn so that request
        goes out, and the server works on it while this page's data is
        decoded. Whatever the full decode then reads, the pager checks
        against the ``meta`` it acted on.
        """
        started = time.perf_counter()
        outcome = "error"
        self._stats["attempts"] += 1
        try:
            raw, final_url = await self._send_following_redirects(call, auth, ends_at, wire)
            outcome = str(raw.status)
            meta = None
            if on_meta is not None:
                meta = peek_meta(raw.status, raw.body)
                if meta is not None and on_meta(meta):
                    await asyncio.sleep(0)
            if turn is not None and 200 <= raw.status < 300:
                # An error is decoded (and retried) at once; a page waits.
                started += await turn.wait()  # the consumer's time, not the request's
            return decode_response(
                raw.status,
                raw.headers,
                raw.body,
                url=final_url,
                read_meta=meta,
                head=call.method == "HEAD",
            )
        except Exception as exc:
            if outcome == "error":
                outcome = type(exc).__name__
            self._redactor().exception(exc)
            raise
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s -> %s in %.1f ms (attempt %d)",
                    call.method,
                    self._redactor().text(call.url),
                    outcome,
                    (time.perf_counter() - started) * 1000.0,
                    attempt_number,
                )

    async def _send_following_redirects(
        self, call: Call, auth: SecretHeaders, ends_at: float | None, wire: WireTime | None
    ) -> tuple[RawResponse, str]:
        """The first non-redirect answer (redacted) and the URL it came from."""
        method, url, query, body = call.method, call.url, call.query, call.body
        headers = auth.with_extra(call.headers)
        # aiohttp's own redirect handling is off: it would carry the
        # Authorization header to whatever host a Location names.
        for _ in range(self._max_redirects + 1):
            raw = self._redact_raw(
                await self._send(method, url, query, headers, body, call.timeout, ends_at, wire)
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
        wire: WireTime | None,
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
            gate = self._gate
            if gate.ever_closed:
                await gate.wait(self._gate_cap, ends_at)
            limiter = self._limiter
            if limiter is None:
                raw = await self._timed_send(wire, method, url, query, headers, body, timeout)
            else:
                raw = await self._paced_send(
                    limiter, wire, method, url, query, headers, body, timeout
                )
            if raw.status == 429:
                # Closed before the slot is released, so the call queued for
                # the slot already sees the pause.
                pause = retry_after_of(raw.headers)
                if pause is not None and pause <= self._gate_cap:
                    self._gate.close_for(pause)
            return raw

    def _redact_raw(self, raw: RawResponse) -> RawResponse:
        """``raw`` with every token, in any spelling, out of its body and headers.

        Done first thing, so nothing after it (decoding, a redirect's
        ``Location``, ``Response.url``, records, links, checkpoints, error
        messages, a traceback's locals) ever holds what a server echoed.
        """
        redact = self._redactor()
        body, headers = redact.bytes(raw.body), redact.headers(raw.headers)
        if body is raw.body and headers is raw.headers:
            return raw
        return RawResponse(raw.status, headers, body)

    async def _timed_send(
        self,
        wire: WireTime | None,
        method: str,
        url: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout | None,
    ) -> RawResponse:
        """``Transport.send``, its time added to ``wire``."""
        if wire is None:
            return await self._transport.send(
                method, url, params=query, headers=headers, body=body, timeout=timeout
            )
        started = time.perf_counter()
        try:
            return await self._transport.send(
                method, url, params=query, headers=headers, body=body, timeout=timeout
            )
        finally:
            wire.seconds += time.perf_counter() - started

    async def _paced_send(
        self,
        limiter: RateLimiter,
        wire: WireTime | None,
        method: str,
        url: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout | None,
    ) -> RawResponse:
        """``_timed_send``, paced by ``limiter`` (whose wait is not on the wire)."""
        ticket = await limiter.acquire()
        raw: RawResponse | None = None
        try:
            raw = await self._timed_send(wire, method, url, query, headers, body, timeout)
            return raw
        finally:
            # No answer (a reset, a timeout, a cancellation) frees the slot too.
            limiter.answered(ticket, raw.status if raw else None, raw.headers if raw else None)

    def _limiter_event(self, event: LimiterEvent) -> None:
        self._stats[f"limiter.{event.kind}"] += 1
        rate = "none" if event.rate is None else f"{event.rate:.1f}/s"
        log.debug(
            "rate limiter: %s (rate %s, %d in flight, pause %.3fs)",
            event.kind,
            rate,
            event.concurrency,
            event.seconds,
        )
