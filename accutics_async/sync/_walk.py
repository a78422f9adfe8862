"""One walk of a sync: the records whose key is at or after a second, in ``key,id`` order.

Two styles, told apart by the first page's meta:

- **Cursor endpoints** are keysets already (the cursor names the last record
  served), so the walk just follows ``next_cursor``. A record updated while
  the walk runs gets a later key and is served again near the end, at its
  new version, unless it is stamped behind the cursor: within the second the
  cursor is in, before the cursor's id. So a walk that reaches records
  stamped after it began restarts the next run no later than its start on
  the server's clock (the first answer's ``Date``). Late commits are for
  ``lookback``, as everywhere, and so is a write between a server's reading
  of the first page and the dating of its answer.
- **Page-number endpoints** would shift under an offset walk: when a record
  already served is updated it moves to the end, everything after it moves
  up one place, and the record at the next page boundary is never served.
  So the walk never asks for page 2 of a query: each request is page 1 of
  ``key >= (key second of the last record seen)``, a keyset emulated with
  the search language. The records of that second are served again and
  dropped here by (id, JSON text). Only when a whole page shares one second
  (more records in one second than a page holds) is there no second to move
  to: that second is then walked page by page on its own
  (``key >= s; key < s + 1``), checking that ``total_items`` stayed the same
  on every page and that that many distinct ids were seen; if not (records
  came or went meanwhile) the second is walked again, and after three
  unsettled attempts the walk keeps that second as the place the next run
  must restart from (:func:`restart_point`), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._observe import Observer
from .._pagination import AsyncPager
from .._sansio.models import CursorPagination, Meta, Page, PageNumberPagination, Response
from .._sansio.paging import PageRequest, next_request
from .._sansio.protocol import Params, server_time
from .._sansio.query import Query
from .._sansio.redact import Redactor
from .._source import PageSource
from ._keys import Entry, encode_entries, window_search

if TYPE_CHECKING:
    from .._fanout import Turn

__all__ = ["Listing", "restart_point", "walk"]

_GROUP_ATTEMPTS = 3


@attrs.frozen
class Listing:
    """What one walk asks for: the listing, the key, the user's filters and page size."""

    path: str
    key: str
    search: str | None
    page_size: int | None = None
    concurrency: int = 1

    @property
    def sort(self) -> str:
        return f"{self.key},id"

    def query(
        self, search: str | None, *, params: Params | None = None, max_pages: int | None = None
    ) -> Query:
        """This listing's request for ``search`` (a window of the key), in ``key,id`` order."""
        return Query.of(
            self.path,
            params=params,
            search=search,
            sort=self.sort,
            page_size=self.page_size,
            max_pages=max_pages,
        )


@attrs.frozen
class WalkPage:
    """One fetched page: its new entries and where a later walk may restart.

    ``entries`` leave out records this walk already handed out at the same
    version. ``restart`` is the UTC second from which a later walk sees
    everything this one has not handed out yet (late commits aside: they
    are what ``lookback`` is for). ``total_items`` is the window's size
    where the first page reported it (page-number endpoints).
    """

    entries: list[Entry]
    restart: int | None
    total_items: int | None = None


def restart_point(last: int | None, floor: int | None, cap: int | None) -> int | None:
    """Where the next walk may start, before ``lookback`` is taken off.

    ``last`` is the key second of the last record handed out, ``floor`` the
    restart point of the previous run (everything before it was handed out
    then), ``cap`` a second this walk may have missed records at or after
    (a crowded second it could not settle; a cursor walk's start). Moving
    back is never needed past ``cap``; moving forward is safe up to the
    later of ``last`` and ``floor``. An empty window therefore keeps ``floor``
    (an idle run must not drift back by ``lookback`` every time).
    """
    known = [value for value in (last, floor) if value is not None]
    point = max(known) if known else None
    if cap is not None:
        point = cap if point is None else min(point, cap)
    return point


async def _one_page(
    client: PageSource, listing: Listing, search: str | None
) -> tuple[Page[Any], bool]:
    """The first page of a query and whether more follow."""
    # max_pages=1: no read-ahead, so each keyset step costs exactly one request.
    pager: AsyncPager[Any] = AsyncPager(client, listing.query(search, max_pages=1))
    async with pager:
        async for page in pager.pages():
            following = next_request(PageRequest(page.url, page.number), page.meta, client.base_url)
            return page, following is not None
    raise AssertionError("a pager always yields its first page")  # pragma: no cover


class _Clocked:
    """``source``, noting the server's time (its ``Date``) when it answered first, in seconds."""

    def __init__(self, source: PageSource) -> None:
        self._source = source
        self.first_answer: int | None = None

    @property
    def base_url(self) -> str:
        return self._source.base_url

    @property
    def max_concurrency(self) -> int:
        return self._source.max_concurrency

    @property
    def observer(self) -> Observer:
        return self._source.observer

    @property
    def redactor(self) -> Redactor:
        return self._source.redactor

    async def request_page(
        self, url: str, *, on_meta: Callable[[Meta], bool] | None = None, turn: Turn | None = None
    ) -> Response:
        resp = await (
            self._source.request_page(url, on_meta=on_meta)
            if turn is None
            else self._source.request_page(url, on_meta=on_meta, turn=turn)
        )
        if self.first_answer is None:
            when = server_time(resp.headers)
            self.first_answer = None if when is None else int(when.timestamp())
        return resp


async def walk(
    client: PageSource, listing: Listing, *, lower: int | None, floor: int | None
) -> AsyncGenerator[WalkPage, None]:
    """Yield the pages of records whose ``key`` second is at or after ``lower`` (all if ``None``).

    ``floor`` is the previous run's restart point (see :func:`restart_point`).
    Raises what the client raises, and ``SyncError`` for an item that has no
    ``id`` or no timestamp in ``key``.
    """
    query = window_search(listing.search, listing.key, lower)
    clocked = _Clocked(client)
    page, more = await _one_page(clocked, listing, query)
    pagination = page.meta.pagination
    if isinstance(pagination, CursorPagination):
        # Never before the previous run's restart: a Date behind the records'
        # clock (a proxy's cached answer, a server clock gone wrong) must not
        # send every run back. Without a Date, only lookback covers the case.
        began = clocked.first_answer
        if began is not None and floor is not None:
            began = max(began, floor)
        async for following in _cursor(
            client, listing, query, page, pagination, more, floor, began
        ):
            yield following
        return
    total = pagination.total_items if isinstance(pagination, PageNumberPagination) else None
    async for following in _keyset(client, listing, page, more, lower, floor):
        yield attrs.evolve(following, total_items=total)


async def _cursor(
    client: PageSource,
    listing: Listing,
    query: str | None,
    page: Page[Any],
    pagination: CursorPagination,
    more: bool,
    floor: int | None,
    began: int | None,
) -> AsyncIterator[WalkPage]:
    # An update behind the cursor is stamped at or after the walk began (see
    # the module's docstring): the next run must start no later than that.
    entries = encode_entries(page.items, listing.key)
    last = entries[-1].second if entries else None
    yield WalkPage(entries, restart_point(last, floor, began))
    if not more or pagination.next_cursor is None:
        return
    # The rest of the walk starts at the first page's next_cursor (API_BASICS.md:
    # "the next_cursor value from the previous response must be set as the
    # cursor parameter"), then follows the pages' own links. The pager drops
    # an id repeated within a couple of pages (a record updated just ahead of
    # the walk); its new version is stamped at or after this walk's last
    # second, so the next run's window holds it.
    cursor = {pagination.cursor_param or "cursor": pagination.next_cursor}
    pager: AsyncPager[Any] = AsyncPager(client, listing.query(query, params=cursor))
    async with pager:
        async for following in pager.pages():
            entries = encode_entries(following.items, listing.key)
            if entries:
                last = entries[-1].second
            yield WalkPage(entries, restart_point(last, floor, began))


async def _keyset(
    client: PageSource,
    listing: Listing,
    page: Page[Any],
    more: bool,
    lower: int | None,
    floor: int | None,
) -> AsyncIterator[WalkPage]:
    served: dict[str, bytes] = {}  # the last second's records, which the next page repeats
    cap: int | None = None  # a crowded second that could not be settled
    while True:
        entries = encode_entries(page.items, listing.key)
        fresh = [e for e in entries if served.get(e.id) != e.body]
        if not entries:
            yield WalkPage(fresh, restart_point(None, floor, cap))
            return
        last = entries[-1].second
        yield WalkPage(fresh, restart_point(last, floor, cap))
        if not more:
            return
        if entries[0].second == last:
            # A whole page in one second: walk that second alone, then go on after it.
            handed = {**served, **{e.id: e.body for e in entries}}
            settled = True
            async for group in _crowded_second(client, listing, last, handed):
                if group is None:
                    settled = False
                    continue
                yield WalkPage(group, restart_point(last, floor, cap))
            if not settled:
                cap = last if cap is None else min(cap, last)
            served, lower = {}, last + 1
        else:
            served = {e.id: e.body for e in entries if e.second == last}
            lower = last
        page, more = await _one_page(
            client, listing, window_search(listing.search, listing.key, lower)
        )


async def _crowded_second(
    client: PageSource, listing: Listing, second: int, handed: dict[str, bytes]
) -> AsyncIterator[list[Entry] | None]:
    """Walk the records of one second page by page, until a walk of it is settled.

    Yields each page's entries not in ``handed`` (which it updates), and
    ``None`` once at the end if no attempt settled. An attempt is settled
    when every page reported the same ``total_items`` and that many
    distinct ids were seen.
    """
    query = window_search(listing.search, listing.key, second, second + 1)
    for _ in range(_GROUP_ATTEMPTS):
        totals: set[int | None] = set()
        ids: set[str] = set()
        pager: AsyncPager[Any] = AsyncPager(
            client, listing.query(query), concurrency=listing.concurrency
        )
        async with pager:
            async for page in pager.pages():
                pagination = page.meta.pagination
                totals.add(
                    pagination.total_items if isinstance(pagination, PageNumberPagination) else None
                )
                entries = encode_entries(page.items, listing.key)
                ids.update(e.id for e in entries)
                fresh = [e for e in entries if handed.get(e.id) != e.body]
                handed.update((e.id, e.body) for e in fresh)
                yield fresh
        if len(totals) == 1 and next(iter(totals)) == len(ids):
            return
    yield None
