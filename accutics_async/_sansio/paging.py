"""Pure pagination logic: which page comes next, page plans, drift, checkpoints.

No I/O. Both pagination styles of API_BASICS.md ("Paging") reduce to one
question answered here: given the request just made and the ``meta`` that
came back, what is the next request (or ``None``)?
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice, repeat
from typing import Any, TypeGuard, overload
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs

from ..errors import PaginationError
from .models import CursorPagination, Meta, PageNumberPagination
from .protocol import check_same_origin, resolve_link

__all__ = [
    "CHECKPOINT_VERSION",
    "NO_DUPLICATES",
    "PageRequest",
    "WalkPosition",
    "checkpoint_dict",
    "drift_reason",
    "duplicate_indexes",
    "finished_checkpoint",
    "id_set",
    "item_ids",
    "next_request",
    "page_plan",
    "position_from_checkpoint",
    "query_param",
    "with_query_param",
]

CHECKPOINT_VERSION = 1
# API_BASICS.md names these parameters; the meta's *_param keys override them.
DEFAULT_PAGE_PARAM = "page"
DEFAULT_CURSOR_PARAM = "cursor"


@attrs.frozen
class PageRequest:
    """One page to fetch: an absolute URL (query included) and its place in the walk.

    ``number`` is the page number for page-number endpoints when known
    (it lets concurrent fetching plan the rest), else ``None``.
    """

    url: str
    number: int | None = None


@attrs.frozen
class WalkPosition:
    """Where a walk stands: the page being read and how many of its items are done.

    ``request is None`` means the walk is complete.
    """

    request: PageRequest | None
    skip: int = 0
    yielded: int = 0
    #: ``items_per_page`` of the page that gave ``request``: the page size the
    #: server served, which may be below the one asked for (API_BASICS.md caps it).
    served_size: int | None = None


def with_query_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (replacing any others)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()


def query_param(url: str, name: str) -> str | None:
    """The last value of query parameter ``name`` in ``url``, if any."""
    found = None
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == name:
            found = value
    return found


def _page_number(url: str, page_param: str) -> int | None:
    text = query_param(url, page_param)
    if text is None:
        return 1  # API_BASICS.md: "To get the first page the parameter can be omitted"
    try:
        return int(text)
    except ValueError:
        return None


def next_request(current: PageRequest, meta: Meta, base_url: str) -> PageRequest | None:
    """The request for the page after ``current``, or ``None`` at the end.

    A ``next`` link (absolute, or relative to the current URL) is followed
    when present; otherwise the request is rebuilt from ``next_cursor`` and
    ``cursor_param``, or, for a page-number meta without a ``next`` key, from
    ``page_param`` while pages remain. Raises ``UnsafeURLError`` for a link
    off ``base_url``'s origin.
    """
    pagination = meta.pagination
    if isinstance(pagination, CursorPagination):
        return _next_cursor_request(current, pagination, base_url)
    if isinstance(pagination, PageNumberPagination):
        return _next_numbered_request(current, meta, pagination, base_url)
    return None


def _next_cursor_request(
    current: PageRequest, pagination: CursorPagination, base_url: str
) -> PageRequest | None:
    if pagination.next_cursor is None:
        return None
    if pagination.next:
        return PageRequest(resolve_link(current.url, pagination.next, base_url))
    param = pagination.cursor_param or DEFAULT_CURSOR_PARAM
    return PageRequest(with_query_param(current.url, param, pagination.next_cursor))


def _next_numbered_request(
    current: PageRequest, meta: Meta, pagination: PageNumberPagination, base_url: str
) -> PageRequest | None:
    following = None if current.number is None else current.number + 1
    param = pagination.page_param or DEFAULT_PAGE_PARAM
    if pagination.next:
        url = resolve_link(current.url, pagination.next, base_url)
        number = _page_number(url, param) if following is None else following
        return PageRequest(url, number)
    raw = meta.raw.get("pagination")
    if isinstance(raw, Mapping) and "next" in raw:
        return None  # an explicit null: the documented end of the listing
    last = _last_page(pagination)
    if following is None or last is None or following > last:
        return None
    return PageRequest(with_query_param(current.url, param, str(following)), following)


def _last_page(pagination: PageNumberPagination) -> int | None:
    total, size = pagination.total_items, pagination.items_per_page
    if total is None or not size or size < 1:
        return None
    return max(1, math.ceil(total / size))


class PagePlan(Sequence[PageRequest]):
    """Planned page requests, each built when it is taken.

    Lazy because ``total_items`` comes from the server: a hostile or broken
    one claiming 10**18 records must not make the client build (and run out
    of memory on) a list of every page before fetching the second.
    """

    __slots__ = ("_head", "_numbers", "_param", "_template")

    def __init__(self, template: str, param: str, numbers: range) -> None:
        self._template = template
        self._param = param
        self._numbers = numbers
        # with_query_param puts the parameter last, and a page number's digits
        # need no quoting: with no fragment after it, each page's URL is this
        # head plus the number, without parsing the template again per page.
        head = with_query_param(template, param, "")
        self._head = head if head.endswith("=") and "#" not in head else None

    @property
    def parts(self) -> tuple[str, str, range]:
        """``(template URL, page parameter, page numbers)``: what the plan is made of."""
        return self._template, self._param, self._numbers

    def __len__(self) -> int:
        return len(self._numbers)  # OverflowError past sys.maxsize pages: use bool()

    def __bool__(self) -> bool:
        return bool(self._numbers)

    @overload
    def __getitem__(self, index: int) -> PageRequest: ...

    @overload
    def __getitem__(self, index: slice) -> PagePlan: ...

    def __getitem__(self, index: int | slice) -> PageRequest | PagePlan:
        if isinstance(index, slice):
            return PagePlan(self._template, self._param, self._numbers[index])
        return self._request(self._numbers[index])

    def __iter__(self) -> Iterator[PageRequest]:
        return map(self._request, self._numbers)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PagePlan):
            return self.parts == other.parts
        if isinstance(other, list):  # bounded by the list, however long the plan
            return list(islice(self, len(other) + 1)) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _request(self, number: int) -> PageRequest:
        if self._head is not None and number >= 0:
            return PageRequest(f"{self._head}{number}", number)
        return PageRequest(with_query_param(self._template, self._param, str(number)), number)


def page_plan(
    first: PageRequest, pagination: PageNumberPagination, *, item_budget: int | None
) -> Sequence[PageRequest]:
    """Requests for the pages after ``first`` known from its ``total_items``.

    Empty when the plan cannot be made (no page number or totals). With an
    ``item_budget`` the plan stops at the page that holds the last item
    wanted, so a limited read does not fetch far past its limit. The result
    is a lazy :class:`PagePlan`: nothing is built for a page not yet taken.
    """
    last = _last_page(pagination)
    size = pagination.items_per_page
    if first.number is None or last is None or not size:
        return []
    if item_budget is not None:
        last = min(last, first.number + max(0, math.ceil(item_budget / size) - 1))
    param = pagination.page_param or DEFAULT_PAGE_PARAM
    size_param = pagination.size_param
    template = first.url
    if size_param:
        # Pin the page size the server chose, so every planned page lines up.
        template = with_query_param(template, size_param, str(size))
    return PagePlan(template, param, range(first.number + 1, last + 1))


def drift_reason(
    *,
    pagination: PageNumberPagination,
    expected_total: int | None,
    is_last_planned: bool,
    count: int,
    ids: set[Any],
    recent: Iterable[set[Any]],
) -> str | None:
    """Why a concurrently fetched page cannot be trusted, or ``None``.

    Drift is a page reporting another ``total_items`` than the first page, a
    short page before the last one planned, or an id already yielded in the
    recent pages: each means records moved between the pages' fetches.
    ``ids`` is the page's :func:`id_set`, ``recent`` the recent pages' own.
    """
    if pagination.total_items != expected_total:
        return f"total_items changed from {expected_total} to {pagination.total_items}"
    size = pagination.items_per_page
    if not is_last_planned and size is not None and count < size:
        return f"short page ({count} of {size} items) before the last"
    for seen in recent:
        # C-level set operations: no page-sized loop, and no union per page.
        if not seen.isdisjoint(ids):
            return f"record {min(map(repr, seen & ids))} seen twice"
    return None


def checkpoint_dict(position: WalkPosition, fp: str) -> dict[str, Any]:
    """The JSON-serialisable checkpoint for ``position``."""
    request = position.request
    checkpoint = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": fp,
        "done": request is None,
        "url": None if request is None else request.url,
        "page": None if request is None else request.number,
        "skip": position.skip,
        "yielded": position.yielded,
    }
    if position.served_size is not None and request is not None:
        checkpoint["served_size"] = position.served_size  # optional: older checkpoints lack it
    return checkpoint


def finished_checkpoint(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """``checkpoint`` (one of :func:`checkpoint_dict`'s) as a finished walk: it resumes nothing."""
    return checkpoint_dict(WalkPosition(None, 0, checkpoint["yielded"]), checkpoint["fingerprint"])


def position_from_checkpoint(
    checkpoint: Mapping[str, Any], *, fp: str, base_url: str, start_url: str | None = None
) -> WalkPosition:
    """Read a checkpoint made by :func:`checkpoint_dict` for the same query.

    Raises ``PaginationError`` if it is malformed, of another version, or
    for another query, and ``UnsafeURLError`` if its URL is off the base
    origin (a tampered checkpoint must not send the token elsewhere). With
    ``start_url`` (the walk's own first URL), the URL to resume from must
    also be for that path and query (see :func:`_same_listing`).
    """
    if not isinstance(checkpoint, Mapping):
        raise PaginationError("a checkpoint must be a mapping (the pager's .checkpoint)")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise PaginationError(f"unsupported checkpoint version {checkpoint.get('version')!r}")
    if checkpoint.get("fingerprint") != fp:
        raise PaginationError(
            "this checkpoint belongs to another query (path, search, sort or page size "
            "differ); start a new walk instead"
        )
    skip, yielded, page = (checkpoint.get(k) for k in ("skip", "yielded", "page"))
    if not (_is_count(skip) and _is_count(yielded) and (page is None or _is_count(page))):
        raise PaginationError("malformed checkpoint: skip, yielded and page must be counts")
    served = checkpoint.get("served_size")
    if served is not None and not _is_count(served):
        raise PaginationError("malformed checkpoint: served_size must be a count")
    if checkpoint.get("done"):
        return WalkPosition(None, 0, yielded)
    url = checkpoint.get("url")
    if not isinstance(url, str):
        raise PaginationError("malformed checkpoint: no URL to resume from")
    check_same_origin(base_url, url)
    if start_url is not None and not _same_listing(start_url, url, served):
        raise PaginationError(
            "this checkpoint resumes another listing (its URL's path or query differ from "
            "this walk's); start a new walk instead"
        )
    return WalkPosition(PageRequest(url, page), skip, yielded, served)


#: Query parameters that define which records a walk covers (the pager sets them).
_QUERY_KEYS = frozenset({"search", "sort", "page_size"})


def _same_listing(start_url: str, url: str, served: int | None = None) -> bool:
    """Whether ``url`` (a later page's) is for the same path and query as ``start_url``.

    The fingerprint binds a checkpoint to the walk's query, but the URL in
    it is what is requested: edited, it could steer the resume elsewhere.
    A server's links may add paging parameters (and its default page size)
    and drop ones it ignores, so the rule is: the same path; ``search``,
    ``sort`` and ``page_size`` exactly as the walk set them, and no
    ``search`` or ``sort`` it did not set; any other parameter of the walk,
    if present, with the walk's values. Only the page and cursor may change.
    """
    first, later = urlsplit(start_url), urlsplit(url)
    if unquote(first.path).rstrip("/") != unquote(later.path).rstrip("/"):
        return False
    own, theirs = _query(first.query), _query(later.query)
    for key in (own.keys() | theirs.keys()) - {DEFAULT_PAGE_PARAM, DEFAULT_CURSOR_PARAM}:
        if key in own:
            binding = key in _QUERY_KEYS or key in theirs
        else:
            binding = key in _QUERY_KEYS and key != "page_size"
        if binding and own.get(key) != theirs.get(key):
            if key == "page_size" and _capped_to(own.get(key), theirs.get(key), served):
                continue  # the server limited a page size over its maximum
            return False
    return True


def _capped_to(own: list[str] | None, theirs: list[str] | None, served: int | None) -> bool:
    """Whether the URL's page size is the one the server served, below the one asked for."""
    if served is None or not own or len(own) != 1 or not own[0].isdigit():
        return False
    return theirs == [str(served)] and 0 < served < int(own[0])


def _query(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return values


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- record ids: recognising a record seen twice at a page boundary ------------

NO_DUPLICATES: frozenset[int] = frozenset()


def item_ids(data: list[Any]) -> list[Any]:
    """Each item's ``id`` (``None`` for an item that is not an object)."""
    try:
        # One C-level pass for the usual page of JSON objects.
        return list(map(dict.get, data, repeat("id")))
    except TypeError:
        return [item.get("id") if isinstance(item, dict) else None for item in data]


def id_set(ids: Sequence[Any]) -> set[Any]:
    """The hashable ids among ``ids``, ``None`` left out (never changed afterwards)."""
    try:
        found = set(ids)
    except TypeError:  # an unhashable "id" cannot be compared this way
        found = {rid for rid in ids if _hashable(rid)}
    found.discard(None)
    return found


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def duplicate_indexes(
    ids: Sequence[Any], id_set: set[Any], recent: deque[set[Any]]
) -> frozenset[int]:
    """Indexes of the items whose id was seen in the ``recent`` pages (usually none)."""
    for seen in recent:
        # The usual case, no repeat, is answered by C-level set operations.
        if not seen.isdisjoint(id_set):
            break
    else:
        return NO_DUPLICATES
    return frozenset(i for i, rid in enumerate(ids) if rid is not None and _in_recent(rid, recent))


def _in_recent(value: Any, recent: deque[set[Any]]) -> bool:
    try:
        return any(value in ids for ids in recent)
    except TypeError:  # an unhashable "id" cannot be compared this way
        return False
