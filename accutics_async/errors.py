"""The exception tree of accutics_async.

Every exception the library raises on purpose is an :class:`AccuticsError`::

    AccuticsError
     ├─ ConfigurationError          bad client settings (no token, insecure URL)
     ├─ SearchSyntaxError           (also a ValueError) bad filter or sort
     ├─ InvalidRequestError         (also a ValueError) a path, header or query value
     │                              that cannot be sent safely (CR/LF/NUL, "..")
     ├─ UnsafeURLError              a next link or URL off the base origin
     ├─ PaginationError             a pagination loop, or a checkpoint for another query
     ├─ ExportError                 a checkpoint that does not fit; a locked or altered partial file
     │   ├─ CheckpointExistsError   an interrupted export exists and resume was not asked for
     │   └─ SyncError               a sync's database, change log or saved state does not fit
     ├─ TransportError              connection failed, reset or timed out (``kind`` says which)
     ├─ DecodeError                 body is not JSON or not the documented envelope
     └─ APIError                    the API answered with an error envelope / status
         ├─ BadRequestError         400
         │   └─ InvalidRouteError   400 invalid_route
         ├─ AuthenticationError     401 (e.g. authorization_header_missing)
         ├─ PermissionDeniedError   403 (e.g. authorization)
         ├─ NotFoundError           404
         ├─ ConflictError           409
         ├─ UnprocessableEntityError  422 (a body or parameter that fails validation)
         ├─ RateLimitError          429 (retry_after: float | None)
         └─ ServerError             5xx

:func:`error_class_for` picks the class from the HTTP status and the API's
error ``code`` through two tables, never from the message text: API_BASICS.md
says the message "should not be used to programatically determine the nature
of an error".

Exceptions pickle with all their fields, because ETL workers ship them
between processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "TRANSPORT_ERROR_KINDS",
    "APIError",
    "AccuticsError",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointExistsError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "ExportError",
    "InvalidRequestError",
    "InvalidRouteError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "SearchSyntaxError",
    "ServerError",
    "SyncError",
    "TransportError",
    "UnprocessableEntityError",
    "UnsafeURLError",
    "error_class_for",
]


def _restore(cls: type[AccuticsError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    # Keyword-only constructors cannot be rebuilt by BaseException.__reduce__,
    # which calls cls(*args); bypass __init__ and restore the fields instead.
    exc = cls.__new__(cls)
    BaseException.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class AccuticsError(Exception):
    """Root of every error raised by accutics_async."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(AccuticsError):
    """The client was configured in a way that cannot work or is unsafe."""


class SearchSyntaxError(AccuticsError, ValueError):
    """A search filter or sort expression is malformed; raised before any request."""


class InvalidRequestError(AccuticsError, ValueError):
    """A request value that cannot be sent safely; raised before any request.

    CR, LF or NUL in a header or query value could split the request, and a
    ``.``/``..`` path segment could step out of the base path.
    """


class UnsafeURLError(AccuticsError):
    """A URL points off the client's base origin, so the token must not go there."""


class PaginationError(AccuticsError):
    """A pagination walk cannot go on safely (a loop, or a checkpoint for another query)."""


class ExportError(AccuticsError):
    """An export cannot start or go on: a bad or mismatched checkpoint, a locked or altered file.

    ``path`` is the file concerned, where there is one (an OS error such as
    a full disk is raised as an ``ExportError`` naming it, the ``OSError``
    as its ``__cause__``).
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class CheckpointExistsError(ExportError):
    """An interrupted export into this file exists; resume it, or discard it first.

    ``path`` is the checkpoint (or shard plan) file found.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, path=path)


class SyncError(ExportError):
    """An incremental sync cannot start or go on: its sink or its saved state does not fit.

    ``path`` is the file concerned (database, change log or state file), when there is one.
    """


#: Every ``TransportError.kind``, with what it means. ``_transport.py`` maps
#: aiohttp's and asyncio's exceptions onto these, in one table.
TRANSPORT_ERROR_KINDS: Mapping[str, str] = {
    "connect": "could not connect (refused, unreachable, DNS)",
    "connect_timeout": "connecting took longer than Timeout.connect",
    "tls": "the TLS handshake or certificate check failed",
    "proxy": "could not connect to the proxy",
    "timeout": "the attempt took longer than its total timeout",
    "read_timeout": "no bytes arrived for longer than Timeout.sock_read",
    "reset": "the server closed or reset the connection",
    "truncated": "the response body was cut short",
    "protocol": "the server's answer was not valid HTTP",
    "deadline": "the call's deadline ran out",
    "closed": "the client is closed",
    "other": "another connection-level failure",
}


class TransportError(AccuticsError):
    """The request did not get a complete HTTP response: refused, reset or timed out.

    ``kind`` names the cause, one of :data:`TRANSPORT_ERROR_KINDS` (``"connect"``,
    ``"timeout"``, ``"read_timeout"``, ``"reset"``, ``"tls"``, ``"deadline"``, ...).
    ``status`` is the HTTP status when the server had answered and only the
    body was lost (``"truncated"``, ``"read_timeout"``), else ``None``: a 2xx
    there means the request was carried out.
    """

    def __init__(self, message: str, *, kind: str = "other", status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind if kind in TRANSPORT_ERROR_KINDS else "other"
        self.status = status


class DecodeError(AccuticsError):
    """A success response whose body is not JSON or not the documented envelope.

    ``status`` is the HTTP status, ``body_start`` the first bytes of the body
    (decoded leniently) to help find the cause, and ``kind`` says what was
    wrong: ``"not_json"`` (not JSON at all: often a body cut short, so it is
    retried like a transport fault), ``"not_envelope"`` (JSON without
    ``data``), ``"bad_meta"`` (``meta`` of the wrong shape), ``"bad_item"``
    (an item that does not fit the requested model), ``"duplicate_key"`` (a
    key repeated in the envelope outside ``data``, which parsers read
    differently) or ``"too_large"`` (over the client's ``max_response_bytes``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body_start: str = "",
        kind: str = "not_json",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body_start = body_start
        self.kind = kind


class APIError(AccuticsError):
    """The API answered with an error status or an error envelope.

    Attributes mirror the documented error envelope: ``status`` (HTTP),
    ``code`` (the API's error code, or ``None`` when the body was not the
    envelope), ``message``, ``data`` (always a dict), ``endpoint`` (from
    ``meta.endpoint`` when present) and ``retry_after`` (seconds from a
    ``Retry-After`` header on 429 and 503 answers, else ``None``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        data: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.data: dict[str, Any] = dict(data) if data else {}
        self.endpoint = endpoint
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" [{self.endpoint}]" if self.endpoint else ""
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, endpoint={self.endpoint!r})"
        )


class BadRequestError(APIError):
    """HTTP 400."""


class InvalidRouteError(BadRequestError):
    """HTTP 400 ``invalid_route``: no such endpoint, or the wrong HTTP method."""


class AuthenticationError(APIError):
    """HTTP 401, e.g. ``authorization_header_missing``."""


class PermissionDeniedError(APIError):
    """HTTP 403 ``authorization``: the API user lacks the permission."""


class NotFoundError(APIError):
    """HTTP 404."""


class ConflictError(APIError):
    """HTTP 409: the request conflicts with the resource's current state."""


class UnprocessableEntityError(APIError):
    """HTTP 422: a body or parameter that fails validation (``data`` says which)."""


class RateLimitError(APIError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds, if given."""


class ServerError(APIError):
    """HTTP 5xx."""


# Most specific first: (status, code) pairs, then status alone, then the
# status class. An unknown code still gets the class for its status.
_BY_STATUS_AND_CODE: dict[tuple[int, str], type[APIError]] = {
    (400, "invalid_route"): InvalidRouteError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_BY_STATUS_CLASS: dict[int, type[APIError]] = {
    4: APIError,
    5: ServerError,
}


def error_class_for(status: int, code: str | None = None) -> type[APIError]:
    """Return the exception class for an error ``status`` and API ``code``."""
    if code is not None:
        found = _BY_STATUS_AND_CODE.get((status, code))
        if found is not None:
            return found
    return _BY_STATUS.get(status) or _BY_STATUS_CLASS.get(status // 100, APIError)
