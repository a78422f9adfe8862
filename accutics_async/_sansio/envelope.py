"""The envelope: a body decoded into a :class:`Response`, or into the error it says.

Pure (no I/O). Bodies are parsed by ``strict_json``: orjson, but a key
repeated anywhere in the envelope outside ``data`` (top level, ``meta``,
``meta.pagination``, ``error``) is refused as ambiguous
(``DecodeError(kind="duplicate_key")``), because parsers disagree on which
copy wins; repeats inside the records of ``data`` are kept, last wins, as
orjson reads them (the library takes no decision from a record, and
checking them would cost a second full parse of every page). That
module's docstring explains how the check stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import DecodeError, error_class_for
from .converter import structure_meta
from .models import Meta, Response
from .protocol import retry_after_of
from .strict_json import DuplicateKeyError, load_envelope, load_meta, loads_checked

__all__ = ["body_excerpt", "decode_response", "peek_meta"]

_EXCERPT = 200
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def body_excerpt(body: bytes, limit: int = _EXCERPT) -> str:
    """The start of ``body`` as one line of text, for error messages."""
    text = body[: limit * 4].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _load_json(body: bytes) -> Any:
    # An error body with repeated keys is as ambiguous as a success body:
    # it is then read as "not the error envelope" (status kept, code None).
    try:
        return loads_checked(body)
    except ValueError:  # invalid JSON, a repeated key, or too deep to check
        return _NOT_JSON


_NOT_JSON: Any = object()


def decode_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str = "",
    read_meta: Meta | None = None,
    head: bool = False,
) -> Response:
    """Decode one HTTP answer into a :class:`Response`, or raise.

    2xx: the body must be the documented envelope (an object with ``data``;
    ``meta`` optional), else ``DecodeError``; 204, and any answer to a
    ``HEAD`` request (``head``), has no body and gives ``data=None``. Any
    other status raises the ``APIError`` subclass for its status and error
    ``code`` (``errors.error_class_for``); a body that is not the error
    envelope (a proxy's HTML page) gives ``code=None`` and the start of the
    body as the message.

    ``read_meta`` is what :func:`peek_meta` read of this body, if it was
    asked: used as the ``Meta`` when the envelope's ``meta`` is that very
    object, rather than built again.
    """
    if 200 <= status < 300:
        if status == 204 or head:
            return Response(status=status, headers=headers, data=None, meta=Meta(), url=url)
        return _decode_success(status, headers, body, url, read_meta)
    raise _decode_error(status, headers, body)


def peek_meta(status: int, body: bytes) -> Meta | None:
    """A success's ``meta``, read before its ``data``; ``None`` if not cheaply known.

    For a body :func:`decode_response` accepts, a ``Meta`` returned here is
    the one it reads (both split the body the same way, and both refuse
    repeated keys in ``meta``); ``None`` means "wait for the full decode".
    Never raises.
    """
    if not 200 <= status < 300 or status == 204:
        return None
    raw = load_meta(body)
    if raw is None:
        return None
    try:
        return structure_meta(raw)
    except (TypeError, ValueError, KeyError):
        return None


def _decode_success(
    status: int, headers: Mapping[str, str], body: bytes, url: str, read_meta: Meta | None
) -> Response:
    def bad(kind: str, problem: str) -> DecodeError:
        return DecodeError(
            f"HTTP {status} response from {url or 'the API'} {problem}",
            status=status,
            body_start=body_excerpt(body),
            kind=kind,
        )

    try:
        doc = load_envelope(body, None if read_meta is None else read_meta.raw)
    except orjson.JSONDecodeError as exc:
        # The parser's reason (bad UTF-8, depth, a number out of range, where
        # it stopped) is the context that tells a cut body from a broken one.
        raise bad("not_json", f"is not valid JSON ({exc}; {len(body)} bytes)") from None
    except DuplicateKeyError as exc:
        raise bad("duplicate_key", f"is ambiguous: {exc}") from None
    except ValueError as exc:  # valid JSON that cannot be checked (nested too deeply)
        raise bad("not_envelope", f"is not the documented envelope: {exc}") from None
    if not isinstance(doc, dict) or "data" not in doc:
        raise bad(
            "not_envelope", "is not the documented envelope: expected a JSON object with 'data'"
        )
    raw_meta = doc.get("meta")
    if read_meta is not None and (read_meta.raw is raw_meta or read_meta.raw == raw_meta):
        return Response(status=status, headers=headers, data=doc["data"], meta=read_meta, url=url)
    try:
        meta = structure_meta(raw_meta)
    except (TypeError, ValueError, KeyError) as exc:
        raise bad("bad_meta", f"has a malformed 'meta': {exc}") from exc
    return Response(status=status, headers=headers, data=doc["data"], meta=meta, url=url)


def _decode_error(status: int, headers: Mapping[str, str], body: bytes) -> Exception:
    code: str | None = None
    message = body_excerpt(body) or f"HTTP {status} with an empty body"
    data: Mapping[str, Any] | None = None
    endpoint: str | None = None
    doc = _load_json(body)
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, str) else None
        raw_message = error.get("message")
        message = raw_message if isinstance(raw_message, str) else message
        raw_data = error.get("data")
        # API_BASICS.md documents error.data as an object; keep anything else
        # rather than drop it, so nothing the server said is lost.
        data = (
            raw_data
            if isinstance(raw_data, dict)
            else (None if raw_data is None else {"value": raw_data})
        )
        meta = doc.get("meta")
        raw_endpoint = meta.get("endpoint") if isinstance(meta, dict) else None
        endpoint = raw_endpoint if isinstance(raw_endpoint, str) else None
    # Retry-After is read on the statuses where the contract honours it; the
    # pure function may get a plain dict, so the name is matched ignoring case.
    retry_after = retry_after_of(headers) if status in _RETRY_AFTER_STATUSES else None
    cls = error_class_for(status, code)
    return cls(
        message,
        status=status,
        code=code,
        data=data,
        endpoint=endpoint,
        retry_after=retry_after,
    )
