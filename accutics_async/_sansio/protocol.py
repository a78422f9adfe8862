"""Pure protocol logic: URLs, query values, the Retry-After header.

Nothing here performs I/O or imports aiohttp, so every rule is unit-tested
with recorded samples (``tests/samples/``) and no socket. The I/O side
(``_transport``, ``_send``) hands text in and gets values or exceptions
out. Bodies are decoded in ``envelope``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeAlias
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from ..errors import (
    ConfigurationError,
    InvalidRequestError,
    UnsafeURLError,
)

__all__ = [
    "Params",
    "PathLike",
    "build_url",
    "check_same_origin",
    "encode_params",
    "is_loopback_url",
    "parse_retry_after",
    "resolve_link",
    "retry_after_of",
    "server_time",
    "validate_base_url",
]

Scalar: TypeAlias = "str | int | float | bool"
ParamValue: TypeAlias = "Scalar | Sequence[Scalar] | None"
Params: TypeAlias = "Mapping[str, ParamValue] | Iterable[tuple[str, Scalar]]"
# A path is text relative to the base URL, or a sequence of raw segments that
# are percent-encoded one by one (so an id like "a/../b?x" stays one segment).
PathLike: TypeAlias = "str | Sequence[str]"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE_CHARS = re.compile(r"[\r\n\x00]")
# A lone surrogate is not text: UTF-8 cannot encode it, and yarl silently drops
# it ("42\ud800" would address record 42). Undecodable bytes in a command-line
# argument arrive as such surrogates (Python's surrogateescape).
_SURROGATE = re.compile("[\ud800-\udfff]")
# "scheme://..." (RFC 3986 scheme syntax) or "//host/...": an absolute URL.
# A bare "://" test would also match a relative path whose query holds a URL.
_ABSOLUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//")
# An absolute http(s) link in the plain form servers send: lowercase scheme,
# an ASCII host and port, no spaces or control characters, no ";" params, no
# "#" fragment and no empty "?". urljoin hands such a link back unchanged (it
# only takes an absolute link apart and puts it together again), so
# resolve_link and build_url skip that work for it: a pager resolves and then
# requests one such link per page.
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?P<path>/[^\x00-\x20\x7f#;?]*)?"
    r"(?:\?[^\x00-\x20\x7f#;]+)?"
)


def validate_base_url(base_url: str | None, *, allow_insecure: bool = False) -> str:
    """Return ``base_url`` without a trailing slash, or raise ``ConfigurationError``.

    Plain ``http`` is refused unless the host is loopback or ``allow_insecure``
    is set: the bearer token must never travel in clear text by accident.
    Surrounding whitespace (a value read from a file ends in a newline) is
    dropped; whitespace or control characters inside are refused.
    """
    base_url = base_url.strip() if base_url else base_url
    if not base_url:
        raise ConfigurationError(
            "no base URL: pass base_url= or set ACCUTICS_BASE_URL "
            "(the API host comes with your API user's credentials)"
        )
    if re.search(r"[\x00-\x20\x7f]", base_url):
        # urlsplit silently deletes tabs and newlines; the URL sent would not.
        raise ConfigurationError(
            f"base URL contains whitespace or control characters: {base_url!r}"
        )
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError as exc:
        raise ConfigurationError(f"base URL is malformed ({exc}): {base_url!r}") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigurationError(f"base URL must be an absolute http(s) URL, got {base_url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base URL must not carry user info; pass the token instead")
    if parts.query or parts.fragment:
        raise ConfigurationError("base URL must not have a query string or fragment")
    if parts.scheme == "http" and not allow_insecure and not is_loopback_url(base_url):
        raise ConfigurationError(
            f"refusing plain http to {parts.hostname}: the token would travel in clear "
            "text; use https, or allow_insecure=True if you really mean it"
        )
    return base_url.rstrip("/")


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is ``localhost`` or a loopback address.

    Not ``*.localhost``: RFC 6761 asks resolvers to keep those on loopback,
    but a system resolver or proxy may send them anywhere, and plain http to
    such a host would carry the token in clear text.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(url: str) -> SplitResult:
    # urllib raises a bare ValueError for a bad IPv6 host or port; a URL we
    # cannot even parse is certainly not one to send the token to.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError as exc:
        raise UnsafeURLError(f"refusing a malformed URL ({exc}): {url!r}") from None
    return parts


def _origin_of(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    # "is None", not "or": port 0 is falsy, and ":0" is not the default port
    # (yarl, which aiohttp sends with, reads it as port 0).
    port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _origin(url: str) -> tuple[str, str, int | None]:
    return _origin_of(_split(url))


# A client compares every page's URL with its one base URL: parse that once.
_base_origin = functools.lru_cache(maxsize=64)(_origin)


def check_same_origin(base_url: str, url: str) -> str:
    """Return ``url`` if it is on ``base_url``'s origin, else raise ``UnsafeURLError``.

    Same origin means the same scheme (so no https-to-http downgrade), host
    and port, and no user info: the token is sent to every URL requested.
    """
    # The usual case, a URL that starts with the base URL itself: the same
    # origin by construction (its host ends at the "/" or "?" that follows
    # the base here), so nothing to parse but the base, once (cached).
    after = url[len(base_url) : len(base_url) + 1]
    if url.startswith(base_url) and after in ("/", "?") and "@" not in base_url:
        _base_origin(base_url)  # a malformed base raises here, as below
        return url
    parts = _split(url)
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError(f"refusing a URL with user info: {_redact_userinfo(url)!r}")
    if _origin_of(parts) != _base_origin(base_url):
        raise UnsafeURLError(
            f"refusing to send the token to {url!r}: it is not on the base URL's origin"
        )
    return url


def _redact_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"***@{host}{port}").geturl()


def _check_text(what: str, *texts: str) -> None:
    for text in texts:
        if _SURROGATE.search(text):
            raise InvalidRequestError(
                f"{what} {text!r} has a lone surrogate (from undecodable bytes?), "
                "which cannot be sent as written"
            )


def _check_segments(path: str) -> None:
    path_part = path.split("?", 1)[0]
    # A dot segment needs a "." (or a "%2e"): most paths have neither.
    if "." in path_part or "%" in path_part:
        for segment in path_part.split("/"):
            # Unquoted first: yarl decodes "%2e%2e" to ".." and then normalises
            # it away, which would step out of the base path just the same.
            if unquote(segment) in (".", ".."):
                raise InvalidRequestError(
                    f"path {path!r} has a {segment!r} segment, which would leave the base path"
                )
    if _UNSAFE_CHARS.search(path):
        raise InvalidRequestError(f"path {path!r} contains CR, LF or NUL")


def build_url(base_url: str, path: PathLike) -> str:
    """Join ``path`` under ``base_url``'s path, or accept an absolute same-origin URL.

    ``"records"`` and ``"/records"`` both give ``<base_url>/records``: a
    leading slash does not drop the base path. A sequence of segments is
    percent-encoded segment by segment. Raises ``UnsafeURLError`` for an
    absolute URL on another origin and ``InvalidRequestError`` for a path
    with ``.``/``..`` segments or control characters.
    """
    if not isinstance(path, str):
        try:
            segments = list(path)
        except TypeError:
            raise InvalidRequestError(
                f"path must be a string or a sequence of segments, got {type(path).__name__}"
            ) from None
        if not segments or not all(isinstance(s, str) and s for s in segments):
            raise InvalidRequestError(f"path segments must be non-empty strings: {path!r}")
        _check_text("path segment", *segments)
        path = "/".join(quote(segment, safe="") for segment in segments)
        if any(segment in (".", "..") for segment in segments):
            _check_segments(path)
    elif _ABSOLUTE.match(path):
        _check_text("path", path)
        plain = _PLAIN_ABSOLUTE.fullmatch(path)
        if plain is not None:  # see _PLAIN_ABSOLUTE: its path needs no parsing either
            _check_segments(plain["path"] or "")
            return check_same_origin(base_url, path)
        try:
            absolute = urljoin(base_url + "/", path)
        except ValueError as exc:
            raise UnsafeURLError(f"refusing a malformed URL ({exc}): {path!r}") from None
        _check_segments(_split(absolute).path)
        return check_same_origin(base_url, absolute)
    _check_text("path", path)
    _check_segments(path)
    return f"{base_url}/{path.lstrip('/')}"


def resolve_link(current_url: str, link: str, base_url: str) -> str:
    """Resolve a ``next`` link (absolute or relative to ``current_url``) safely.

    Raises ``UnsafeURLError`` when the result is off ``base_url``'s origin.
    """
    if _PLAIN_ABSOLUTE.fullmatch(link):
        return check_same_origin(base_url, link)
    try:
        url = urljoin(current_url, link)
    except ValueError as exc:
        raise UnsafeURLError(f"refusing a malformed link ({exc}): {link!r}") from None
    return check_same_origin(base_url, url)


def _param_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise InvalidRequestError(
            f"query parameter {key!r}: unsupported value type {type(value).__name__}"
        )
    if _UNSAFE_CHARS.search(text):
        raise InvalidRequestError(f"query parameter {key!r} contains CR, LF or NUL")
    _check_text(f"query parameter {key!r}:", text)
    return text


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    """Flatten query parameters into ``(name, text)`` pairs.

    ``None`` values are dropped; a list or tuple value repeats the name;
    booleans become ``true``/``false``. Raises ``InvalidRequestError`` for
    unsupported types or CR/LF/NUL anywhere.
    """
    if params is None:
        return []
    given: object = params  # what the types promise is not what every caller passes
    try:
        if isinstance(given, (str, bytes)):
            raise TypeError  # iterable, but not pairs
        items = list(params.items() if isinstance(params, Mapping) else params)
    except TypeError:
        raise InvalidRequestError(
            f"params must be a mapping or (name, value) pairs, got {type(params).__name__}"
        ) from None
    pairs: list[tuple[str, str]] = []
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"params must be a mapping or (name, value) pairs, got a {type(item).__name__}"
            ) from None
        if not isinstance(key, str) or not key or _UNSAFE_CHARS.search(key):
            raise InvalidRequestError(f"invalid query parameter name {key!r}")
        _check_text("query parameter name", key)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((key, _param_text(key, v)) for v in value)
        else:
            pairs.append((key, _param_text(key, value)))
    return pairs


def parse_retry_after(
    value: str | None, now: datetime | None = None, *, date: str | None = None
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    An HTTP date is counted from ``now``, else from ``date`` (the answer's
    own ``Date`` header, when it reads as one), else from this machine's
    clock. Counting from the server's ``Date`` gives the wait the server
    meant whatever this machine's clock says, and the same number to every
    part of the client that reads the same answer. Returns ``None`` for a
    missing or unreadable header; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if seconds < 0:  # delay-seconds has no sign: not a "retry now"
            return None
    except ValueError:
        when = _http_date(value)
        if when is None:
            return None
        since = now or (_http_date(date) if date is not None else None)
        seconds = (when - (since or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return None
    return max(0.0, seconds)


def server_time(headers: Mapping[str, str]) -> datetime | None:
    """An answer's ``Date`` header (names in any case); ``None`` if missing or unreadable."""
    value = _header(headers, "Date")
    return None if value is None else _http_date(value)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """:func:`parse_retry_after` of an answer's headers (names in any case)."""
    return parse_retry_after(_header(headers, "Retry-After"), date=_header(headers, "Date"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, from a multidict or a plain dict of any case."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # numbers too big for a date
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
