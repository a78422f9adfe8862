"""One call's request (method, URL, query, headers, body), built and checked once.

Every attempt of the call, and every redirect hop, sends this same value;
only the Authorization header is added per attempt (``_send``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import orjson

from ..errors import InvalidRequestError
from .protocol import Params, PathLike, build_url, encode_params
from .timeout import Timeout

__all__ = ["UNSAFE_HEADER", "Call"]

# What HTTP forbids in a header (RFC 9110, 5.5: controls but HTAB), and
# aiohttp refuses at send time with a bare ValueError.
UNSAFE_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_METHOD = re.compile(r"[A-Za-z]+")


@attrs.frozen
class Call:
    """One call's request, as every attempt (and redirect hop) of it sends it."""

    method: str
    url: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]  # without Authorization: added per attempt
    body: bytes | None
    timeout: Timeout | None

    @classmethod
    def build(
        cls,
        base_url: str,
        method: str,
        path: PathLike,
        *,
        params: Params | None,
        json: Any,
        headers: Mapping[str, str] | None,
        default_headers: Mapping[str, str],
        timeout: Timeout | None,
    ) -> Call:
        """The call, or ``InvalidRequestError``/``UnsafeURLError`` for one that cannot be sent."""
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            # aiohttp would raise a bare ValueError; refuse it as ours, early.
            raise InvalidRequestError(f"invalid HTTP method {method!r}")
        url = build_url(base_url, path)
        query = encode_params(params)
        extra = _extra_headers(headers)
        body = None
        if json is not None:
            try:
                body = orjson.dumps(json)
            except TypeError as exc:
                raise InvalidRequestError(f"request body is not JSON-serialisable: {exc}") from None
            if not any(name.lower() == "content-type" for name in extra):
                extra["Content-Type"] = "application/json"
        for name, value in extra.items():
            if UNSAFE_HEADER.search(name) or UNSAFE_HEADER.search(value):
                raise InvalidRequestError(
                    f"header {name!r} contains a control character (CR, LF, NUL or another)"
                )
            if name.lower() == "authorization":
                raise InvalidRequestError("the Authorization header is set by the client")
        return cls(method.upper(), url, query, {**default_headers, **extra}, body, timeout)


def _extra_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The call's own headers, refused as ours unless names and values are text."""
    if not headers:
        return {}
    try:
        extra = dict(headers)
    except (TypeError, ValueError):
        raise InvalidRequestError("headers must be a mapping of header names to values") from None
    for name, value in extra.items():
        if not isinstance(name, str):
            raise InvalidRequestError(f"a header name must be a str, got {name!r}")
        if not isinstance(value, str):
            # The value is not quoted: it may be a secret.
            raise InvalidRequestError(
                f"header {name!r}: its value must be a str, got a {type(value).__name__}"
            )
    return extra
