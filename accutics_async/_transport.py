"""The only module that does client I/O with aiohttp.

It sends one attempt and returns ``(status, headers, body)``; retries,
decoding and auth live elsewhere. aiohttp and asyncio exceptions are
translated into ours here, through one table.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Mapping, Sequence
from typing import NamedTuple, NoReturn, TypeAlias

import aiohttp

from ._sansio.redact import drop_frames
from ._sansio.timeout import Timeout
from .errors import ConfigurationError, DecodeError, TransportError

__all__ = [
    "RawResponse",
    "Transport",
]

# Most specific first: the first matching row names the failure, as a kind
# from errors.TRANSPORT_ERROR_KINDS. Note that asyncio.TimeoutError is not an
# aiohttp.ClientError, that aiohttp's ServerTimeoutError is both, and that
# the TLS and proxy failures are ClientConnectorErrors too.
_TRANSLATIONS: tuple[tuple[type[BaseException], str, str], ...] = (
    (aiohttp.ConnectionTimeoutError, "connect_timeout", "timed out connecting"),
    (aiohttp.SocketTimeoutError, "read_timeout", "timed out waiting for the next bytes"),
    (aiohttp.ServerTimeoutError, "timeout", "timed out"),
    (asyncio.TimeoutError, "timeout", "timed out"),
    (aiohttp.ClientProxyConnectionError, "proxy", "could not connect to the proxy"),
    (aiohttp.ClientHttpProxyError, "proxy", "the proxy refused the request"),
    (aiohttp.ClientSSLError, "tls", "TLS failed"),
    (ssl.SSLError, "tls", "TLS failed"),
    (aiohttp.ClientConnectorError, "connect", "could not connect"),
    (aiohttp.ServerDisconnectedError, "reset", "server closed the connection"),
    (aiohttp.ClientPayloadError, "truncated", "response body was cut short"),
    (aiohttp.ClientResponseError, "protocol", "malformed HTTP response"),
    (ConnectionResetError, "reset", "connection reset"),
    (BrokenPipeError, "reset", "connection reset"),
    (ConnectionRefusedError, "connect", "could not connect"),
    (aiohttp.ClientOSError, "other", "connection error"),
    (aiohttp.ClientError, "other", "HTTP client error"),
    (ConnectionError, "other", "connection error"),
)
# aiohttp wraps a reset met mid-request in a plain ClientOSError.
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})

_CHUNK = 1 << 16

SSLSetting: TypeAlias = "ssl.SSLContext | bool"


class RawResponse(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


def _translate(
    exc: BaseException, method: str, url: str, status: int | None
) -> TransportError | None:
    for cls, kind, what in _TRANSLATIONS:
        if isinstance(exc, cls):
            if kind == "other" and getattr(exc, "errno", None) in _RESET_ERRNOS:
                kind, what = "reset", "connection reset"
            detail = str(exc) or type(exc).__name__
            if status is not None:
                what = f"{what} after the server answered {status}"
            return TransportError(f"{method} {url}: {what} ({detail})", kind=kind, status=status)
    return None


def _raise_unchained(error: TransportError) -> NoReturn:
    """Raise ``error`` with no ``__cause__`` and no ``__context__``.

    Raising outside an ``except`` block is not enough to drop the context: on
    Python 3.10 asyncio resumes a task from inside its own ``except`` block
    (``Task.__wakeup``), so the aiohttp exception set on the future the task
    awaited (an ``HttpProcessingError`` whose message can hold a header the
    server echoed, the token included) became the implicit context of ours.
    The chain is cleared here explicitly, on every version.
    """
    try:
        raise error
    except TransportError:
        error.__context__ = None
        error.__cause__ = None
        raise  # a bare re-raise sets no new context


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """aiohttp's form of ``timeout``."""
    return aiohttp.ClientTimeout(
        total=timeout.total, connect=timeout.connect, sock_read=timeout.sock_read
    )


def _as_sent(resp: aiohttp.ClientResponse) -> bool:
    """Whether the body is read as it was sent (no decompression inflating it)."""
    return resp.headers.get("Content-Encoding", "identity") in ("identity", "")


class Transport:
    """One aiohttp session (owned or borrowed) plus the in-flight limit.

    A transport belongs to the event loop it is first used in: aiohttp's
    session, its connections and the limit are tied to that loop.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        timeout: Timeout,
        max_concurrency: int,
        max_response_bytes: int,
        ssl: SSLSetting = True,
        proxy: str | None = None,
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
        self._timeout = client_timeout(timeout)
        self._limit = asyncio.Semaphore(max_concurrency)
        self._max_concurrency = max_concurrency
        self._max_bytes = max_response_bytes
        self._ssl = ssl
        self._proxy = proxy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def slot(self) -> asyncio.Semaphore:
        """The in-flight limit, to hold (``async with``) around :meth:`send`.

        Raises ``ConfigurationError`` when called from another event loop
        than the first one: aiohttp would fail there with a bare
        ``RuntimeError`` ("Event loop is closed", "attached to a different loop").
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ConfigurationError(
                "this AccuticsClient was first used in another event loop (a second "
                "asyncio.run()?); create one client per event loop"
            )
        return self._limit

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
        timeout: Timeout | None = None,
    ) -> RawResponse:
        """Send one request and read the whole body; the caller holds :meth:`slot`.

        ``timeout`` overrides the transport's own for this request. Raises
        ``TransportError`` (its ``kind`` says why) for connection failures,
        resets, timeouts and bodies cut short, and ``DecodeError(kind="too_large")``
        for a body over ``max_response_bytes``.
        """
        if self._closed:
            raise TransportError("the client is closed", kind="closed")
        session = self._get_session()
        if session.closed:  # one passed in, and closed by its owner
            raise TransportError(
                "the session given to the client (session=) is closed", kind="closed"
            )
        status = None  # known once the answer's head is in: the body alone may fail
        try:
            async with session.request(
                method,
                url,
                params=params or None,
                data=body,
                headers=headers,
                timeout=self._timeout if timeout is None else client_timeout(timeout),
                allow_redirects=False,
                ssl=self._ssl,
                proxy=self._proxy,
            ) as resp:
                status = resp.status
                return RawResponse(status, resp.headers, await self._read(resp, url))
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, ssl.SSLError) as exc:
            translated = _translate(exc, method, url, status)
            if translated is None:  # pragma: no cover - the table ends in these classes
                raise
            if not hasattr(exc, "request_info"):
                # Kept as the cause for its type and message; its frames are
                # aiohttp's, whose locals hold the request headers.
                raise translated from drop_frames(exc)
        # ClientResponseError and its kin hold the request headers, the
        # Authorization header included, in request_info, which their repr
        # shows (error trackers and debuggers print it). So that exception is
        # neither the cause nor the context: raised here, outside the except
        # block. Its text (status, message, URL) is in our message.
        _raise_unchained(translated)

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        declared = resp.content_length
        # Content-Length counts the bytes on the wire; aiohttp decompresses a
        # gzip/deflate/br body, and 1 MB of gzip can inflate to 1 GB. So the
        # declared length is trusted only for a body sent as it is.
        if declared is not None and _as_sent(resp):
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
