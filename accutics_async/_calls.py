"""One call of a client: the token, the retries, the observation around its attempts.

``AccuticsClient`` builds the :class:`Call` (a checked value) and hands it
here; each attempt goes to the wire through its :class:`Sender`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._auth import TokenSource, bearer, token_of
from ._observe import Observer, retry_cause
from ._retry import RetryPolicy, call_with_retries
from ._sansio.call import Call
from ._sansio.models import Meta, Response
from ._sansio.redact import SecretHeaders
from ._send import Sender
from .errors import AuthenticationError

if TYPE_CHECKING:
    from ._fanout import Turn

__all__ = ["Caller"]

log = logging.getLogger("accutics_async")


class Caller:
    """Runs a client's calls: a bearer token per attempt, a refresh after a 401, retries."""

    def __init__(
        self,
        *,
        tokens: TokenSource,
        sender: Sender,
        observer: Observer,
        retry: RetryPolicy | None,
        stats: Counter[str],
    ) -> None:
        self._tokens = tokens
        self._sender = sender
        self._observer = observer
        self._retry = retry
        self._stats = stats

    async def run(
        self,
        call: Call,
        *,
        deadline: float | None,
        on_meta: Callable[[Meta], bool] | None = None,
        turn: Turn | None = None,
    ) -> Response:
        """``call``'s decoded answer, retried per the policy; see ``AccuticsClient.request``.

        ``on_meta`` (see ``Sender.attempt``) sees each successful attempt's
        ``meta`` before its ``data`` is decoded; with ``turn`` (a fan-out
        page), a success then waits for it, unless the call has a deadline.
        """
        method, url, query = call.method, call.url, call.query
        policy_deadline = None if self._retry is None else self._retry.deadline
        if turn is not None and (deadline is not None or policy_deadline is not None):
            # A deadline bounds the call's own time, which the consumer's must not use up.
            turn = None
        self._stats["requests"] += 1
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
                number,
                lambda wire: self._sender.attempt(call, auth, number, ends_at, on_meta, turn, wire),
            )

        async def attempt(ends_at: float | None) -> Response:
            nonlocal refreshed
            auth = bearer(await self._tokens.get())
            try:
                return await observed_attempt(auth, ends_at)
            except AuthenticationError:
                if refreshed or not self._tokens.refreshable:
                    raise
            # The token may have expired (a JWT, during a long export): ask
            # for a fresh one and repeat the request once with it.
            refreshed = True
            self._stats["token_refreshes"] += 1
            auth = bearer(await self._tokens.refresh(token_of(auth)))
            return await observed_attempt(auth, ends_at)

        async def on_retry(exc: BaseException, sleep: float, number: int) -> None:
            reason = retry_cause(exc)
            self._stats[f"retries.{reason}"] += 1
            log.info("retrying after %s in %.2fs (attempt %d failed)", reason, sleep, number)
            await observed.retry(exc, sleep, number)

        with observed:
            return await call_with_retries(
                attempt,
                method=method,
                policy=self._retry,
                deadline=deadline,
                on_retry=on_retry,
            )
