"""The only module that does client I/O with aiohttp.

It sends one attempt and returns ``(status, headers, body)``; retries,
decoding and auth live elsewhere. aiohttp and asyncio exceptions are
translated into ours here, through one table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import aiohttp

from .errors import ConfigurationError, DecodeError, TransportError

__all__ = ["RawResponse", "Transport"]

# Most specific first: the first matching row names the failure. Note that
# asyncio.TimeoutError is not an aiohttp.ClientError, and that aiohttp's
# ServerTimeoutError is both.
_TRANSLATIONS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ServerTimeoutError, "timed out"),
    (asyncio.TimeoutError, "timed out"),
    (aiohttp.ClientConnectorError, "could not connect"),
    (aiohttp.ServerDisconnectedError, "server closed the connection"),
    (aiohttp.ClientPayloadError, "response body was cut short"),
    (aiohttp.ClientResponseError, "malformed HTTP response"),
    (aiohttp.ClientOSError, "connection error"),
    (aiohttp.ClientError, "HTTP client error"),
    (ConnectionError, "connection error"),
)

_CHUNK = 1 << 16


class RawResponse(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


def _translate(exc: BaseException, method: str, url: str) -> TransportError | None:
    for kind, what in _TRANSLATIONS:
        if isinstance(exc, kind):
            detail = str(exc) or type(exc).__name__
            return TransportError(f"{method} {url}: {what} ({detail})")
    return None


class Transport:
    """One aiohttp session (owned or borrowed) plus the in-flight limit."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        timeout: float,
        max_concurrency: int,
        max_response_bytes: int,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
    ) -> None:
        if trace_configs is not None:
            if session is not None:
                raise ConfigurationError(
                    "trace_configs apply to the session the client creates; a session "
                    "you pass in keeps its own (give them to your ClientSession)"
                )
            if not isinstance(trace_configs, (list, tuple)) or not all(
                isinstance(config, aiohttp.TraceConfig) for config in trace_configs
            ):
                raise ConfigurationError("trace_configs must be a list of aiohttp.TraceConfig")
        self._trace_configs = list(trace_configs) if trace_configs else None
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = asyncio.Semaphore(max_concurrency)
        self._max_concurrency = max_concurrency
        self._max_bytes = max_response_bytes
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Created on first use, inside the running loop, as aiohttp wants.
            connector = aiohttp.TCPConnector(limit=self._max_concurrency)
            self._session = aiohttp.ClientSession(
                connector=connector, trace_configs=self._trace_configs
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] | None,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> RawResponse:
        """Send one request and read the whole body.

        Raises ``TransportError`` for connection failures, resets, timeouts
        and bodies cut short, and ``DecodeError(kind="too_large")`` for a body
        over ``max_response_bytes``.
        """
        if self._closed:
            raise TransportError("the client is closed")
        session = self._get_session()
        async with self._limit:
            try:
                async with session.request(
                    method,
                    url,
                    params=params or None,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    return RawResponse(resp.status, resp.headers, await self._read(resp, url))
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                translated = _translate(exc, method, url)
                if translated is None:  # pragma: no cover - the table ends in ClientError
                    raise
                if not hasattr(exc, "request_info"):
                    raise translated from exc
        # ClientResponseError and its kin hold the request headers, the
        # Authorization header included, in request_info, which their repr
        # shows (error trackers and debuggers print it). So that exception is
        # neither the cause nor the context: raised here, outside the except
        # block. Its text (status, message, URL) is in our message.
        raise translated

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        declared = resp.content_length
        # Content-Length counts the bytes on the wire; aiohttp decompresses a
        # gzip/deflate/br body, and 1 MB of gzip can inflate to 1 GB. So the
        # declared length is trusted only for a body sent as it is.
        if declared is not None and resp.headers.get("Content-Encoding", "identity") in (
            "identity",
            "",
        ):
            if declared <= self._max_bytes:
                return await resp.read()
            raise self._too_large(url, declared)
        # Chunked or compressed: count as we go, so a hostile or broken server
        # cannot make us buffer without bound (aiohttp inflates step by step).
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise self._too_large(url, size)
            parts.append(chunk)
        return b"".join(parts)

    def _too_large(self, url: str, size: int) -> DecodeError:
        return DecodeError(
            f"response from {url} is over max_response_bytes ({size} > {self._max_bytes} bytes)",
            status=None,
            kind="too_large",
        )

    async def close(self) -> None:
        """Close the session if this transport created it; a borrowed one stays open."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
