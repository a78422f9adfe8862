"""Value types: the decoded envelope, pagination metadata, pages and records.

All are frozen, slotted attrs classes. They are built by the private cattrs
converter in ``converter.py``; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeAlias, TypeVar

import attrs

__all__ = [
    "JSON",
    "CursorPagination",
    "Meta",
    "Page",
    "PageNumberPagination",
    "Record",
    "Response",
]

T = TypeVar("T")

#: A decoded JSON value: what ``Response.data`` holds. Narrow it with
#: ``isinstance`` (``dict``, ``list``, ...) before indexing.
JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None


@attrs.frozen
class PageNumberPagination:
    """``meta.pagination`` of a page-number endpoint (API_BASICS.md, "Page number")."""

    first: str | None = None
    previous: str | None = None
    current: str | None = None
    next: str | None = None
    last: str | None = None
    items_per_page: int | None = None
    total_items: int | None = None
    page_param: str | None = None
    size_param: str | None = None


@attrs.frozen
class CursorPagination:
    """``meta.pagination`` of a cursor endpoint (API_BASICS.md, "Cursor")."""

    next_cursor: str | None = None
    next: str | None = None
    items_per_page: int | None = None
    current: str | None = None
    size_param: str | None = None
    cursor_param: str | None = None


@attrs.frozen
class Meta:
    """The envelope's ``meta``: ``endpoint``, parsed ``pagination`` and the whole object.

    ``raw`` keeps every key the server sent, including ones this library does
    not know yet.
    """

    endpoint: str | None = None
    pagination: PageNumberPagination | CursorPagination | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class Response:
    """A decoded success response.

    ``data`` is the decoded JSON value of the envelope's ``data`` (a dict for
    "show"/"create" requests, a list for "index" requests).
    """

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    data: JSON = attrs.field(repr=False)
    meta: Meta
    url: str = ""


@attrs.frozen
class Page(Generic[T]):
    """One page of a paginated listing: its ``items`` and the ``meta`` it came with.

    ``number`` counts pages from 1 in this walk (for page-number endpoints it
    is the page number the server was asked for); ``url`` is the URL fetched.
    """

    items: Sequence[T] = attrs.field(repr=False)
    meta: Meta
    number: int = 1
    url: str = ""

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class Record:
    """A campaign taxonomy record, as returned by the record endpoints.

    The documented fixed fields are typed attributes. The ``input_*`` and
    ``output_*`` fields vary per account's taxonomy, so they are kept in two
    mappings keyed by the full field name (``inputs["input_medium"]``,
    ``outputs["output_utm_campaign"]``) rather than guessed as attributes.
    ``author``/``updater`` are kept as the API sends them (a user object
    such as ``{"id", "name", "email"}``, or a plain string).
    Build one with ``paginate(..., model=Record)``.
    """

    id: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    author: str | Mapping[str, Any] | None = None
    updater: str | Mapping[str, Any] | None = None
    submission: str | None = None
    match_status: str | None = None
    inputs: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    outputs: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
