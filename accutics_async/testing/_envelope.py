"""The documented response envelopes and pagination metas, as bytes and dicts.

API_BASICS.md ("Response format", "Error responses", "Paging"): success is
``{"data": ..., "meta": {"endpoint": ...}}``, an error is ``{"error":
{"code", "message", "data": {...}}, "meta": {"endpoint": ...}}``, and
collections carry ``meta.pagination`` with the keys of their style. Links are
absolute URLs that keep the request's ``search``, ``sort`` and (effective)
``page_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

__all__ = [
    "HTML_502",
    "ApiProblem",
    "cursor_meta",
    "error_code_for",
    "error_response",
    "json_response",
    "page_number_meta",
]

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class ApiProblem(Exception):
    """An error the fake API answers with the error envelope."""

    def __init__(
        self, status: int, code: str, message: str, data: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data: dict[str, Any] = dict(data or {})


def error_code_for(status: int) -> str:
    """Return a snake_case code for an HTTP status, e.g. ``too_many_requests`` for 429."""
    # RFC 9110 renamed 413, and Python 3.13's HTTPStatus with it; the code the
    # fake server sends must not change with the interpreter.
    if status == 413:
        return "request_entity_too_large"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return f"http_{status}"
    return phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")


def json_response(
    payload: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a JSON response whose body is the already serialised ``payload``."""
    return web.Response(
        body=payload, status=status, content_type="application/json", headers=headers
    )


def error_response(
    status: int,
    code: str,
    message: str,
    data: Mapping[str, Any] | None,
    endpoint: str | None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Return the documented error envelope; ``data`` is always an object."""
    body = {
        "error": {"code": code, "message": message, "data": dict(data or {})},
        "meta": {"endpoint": endpoint},
    }
    return json_response(orjson.dumps(body), status, headers)


def _link(url: URL, params: Mapping[str, str], **extra: str | int) -> str:
    return str(url.with_query({**params, **{k: str(v) for k, v in extra.items()}}))


def page_number_meta(
    url: URL, params: Mapping[str, str], page: int, size: int, total: int
) -> dict[str, Any]:
    """Return ``meta.pagination`` for page-number paging.

    ``url`` is the absolute request URL without query and ``params`` the
    kept parameters (``search``, ``sort``, ``page_size``). ``last`` is at
    least 1; ``previous`` is null on page 1 and ``next`` from the last page on.
    """
    last = max(1, -(-total // size))
    return {
        "first": _link(url, params, page=1),
        "previous": _link(url, params, page=page - 1) if page > 1 else None,
        "current": _link(url, params, page=page),
        "next": _link(url, params, page=page + 1) if page < last else None,
        "last": _link(url, params, page=last),
        "items_per_page": size,
        "total_items": total,
        "page_param": "page",
        "size_param": "page_size",
    }


def cursor_meta(
    url: URL, params: Mapping[str, str], size: int, cursor: str | None, next_cursor: str | None
) -> dict[str, Any]:
    """Return ``meta.pagination`` for cursor paging; ``next_cursor`` is a string or null."""
    current = _link(url, params, cursor=cursor) if cursor else _link(url, params)
    return {
        "current": current,
        "next": _link(url, params, cursor=next_cursor) if next_cursor is not None else None,
        "items_per_page": size,
        "next_cursor": next_cursor,
        "cursor_param": "cursor",
        "size_param": "page_size",
    }
