"""Where the bearer token comes from: a string, or a callable asked when needed.

A JWT can expire during a long export, so ``token=`` may be a callable (plain
or async) returning the current token. It is called for the first request
and once more when a request is answered 401; every token it has handed out
is remembered, so that none of them can surface in a log or an exception.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import Awaitable, Callable

from ._sansio.redact import Redactor, SecretHeaders
from .errors import AccuticsError, ConfigurationError

__all__ = ["TokenProvider", "TokenSource", "bearer", "token_of"]

#: A callable returning the token, or an awaitable of it.
TokenProvider = Callable[[], str | Awaitable[str]]

# Any control character, tab included: none belongs in a bearer token, and
# aiohttp refuses most of them only when the request is sent.
_UNSAFE_TOKEN = re.compile(r"[\x00-\x1f\x7f]")
# Shorter "tokens" (test stubs) are not real secrets, and replacing a few
# common characters would corrupt the body.
_MIN_REDACTABLE = 8


def _checked(token: object, source: str) -> str:
    """``token`` stripped; ``ConfigurationError`` if it is not a usable header value."""
    # Stripped before the control-character check: a token read from a file usually ends
    # in a newline, which is harmless once removed.
    text = token.strip() if isinstance(token, str) else None
    if not text:
        raise ConfigurationError(
            f"no API token: {source} (a JWT for an API user)"
            if token is None or isinstance(token, str)
            else f"{source} gave a {type(token).__name__}, not a token string"
        )
    if _UNSAFE_TOKEN.search(text):
        raise ConfigurationError("the API token contains a control character (CR, LF, tab, ...)")
    return text


class TokenSource:
    """The client's token: fixed, or fetched from a provider and refreshed after a 401."""

    __slots__ = ("_lock", "_provider", "_token", "secrets", "secrets_bytes")

    def __init__(self, token: str | TokenProvider | None) -> None:
        self.secrets: list[str] = []
        self.secrets_bytes: list[bytes] = []
        self._lock = asyncio.Lock()
        self._provider: TokenProvider | None = None
        self._token: str | None = None
        if callable(token):
            self._provider = token
            return
        if token is None:
            token = os.environ.get("ACCUTICS_TOKEN")
        self._remember(_checked(token, "pass token= or set ACCUTICS_TOKEN"))

    @property
    def refreshable(self) -> bool:
        """Whether a 401 can be answered by asking for a fresh token."""
        return self._provider is not None

    async def get(self) -> str:
        """The current token, asking the provider the first time."""
        if self._token is not None:
            return self._token
        async with self._lock:
            return self._token if self._token is not None else await self._fetch()

    async def refresh(self, stale: str) -> str:
        """A fresh token after ``stale`` was refused (401).

        Calls that were refused together ask the provider once: whoever
        comes after the first refresh gets its token.
        """
        async with self._lock:
            current = self._token
            return current if current is not None and current != stale else await self._fetch()

    async def _fetch(self) -> str:
        assert self._provider is not None
        try:
            value = self._provider()
            if inspect.isawaitable(value):
                value = await value
        except AccuticsError:
            raise
        except Exception as exc:
            # Not chained: the provider's frames and locals could hold a token.
            # Its message is kept, minus every token seen so far.
            detail = Redactor(self.secrets).text(str(exc))
            raise ConfigurationError(
                f"the token provider raised {type(exc).__name__}: {detail}"
            ) from None
        return self._remember(_checked(value, "the token provider"))

    def _remember(self, token: str) -> str:
        self._token = token
        if len(token) >= _MIN_REDACTABLE and token not in self.secrets:
            self.secrets.append(token)
            self.secrets_bytes.append(token.encode())
        return token


def bearer(token: str) -> SecretHeaders:
    # The token travels down the send path only inside this, whose repr hides
    # it: a traceback that shows locals (pytest -l, rich) prints every local.
    return SecretHeaders({"Authorization": f"Bearer {token}"})


def token_of(auth: SecretHeaders) -> str:
    return auth["Authorization"].removeprefix("Bearer ")
