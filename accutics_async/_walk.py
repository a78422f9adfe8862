"""One walk over a listing, as explicit steps: take a page, account for it, schedule what follows.

``AsyncPager`` drives a :class:`Walk` from a short loop::

    while walk.more():
        fetched = await walk.take()      # fan-out, read-ahead, or fetched now
        dups = walk.account(fetched)     # repeats at a page boundary, items supplied
        if walk.schedule(fetched):       # start the fan-out or the next read-ahead
            await asyncio.sleep(0)       # ... and let the read-ahead's request go out
        yield fetched, walk.skip, dups
        walk.advance(fetched)            # the loop guard's memory, then the next request

The decisions inside each step (the next request, the page plan, drift, the
repeated ids) are pure functions of ``_sansio.paging``; this module only holds the
walk's state and the fetches it has in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._fanout import FanOut
from ._sansio.models import Page, PageNumberPagination
from ._sansio.paging import (
    NO_DUPLICATES,
    PageRequest,
    WalkPosition,
    drift_reason,
    duplicate_indexes,
    id_set,
    page_plan,
)
from .errors import AccuticsError, PaginationError

__all__ = ["Fetched", "Walk"]

T = TypeVar("T")

# How many recent pages' ids are kept to recognise a record seen twice at a
# page boundary (offset pagination shifts by whole records when data moves).
_RECENT_PAGES = 2
_NO_IDS: set[Any] = set()  # shared, so never changed


@attrs.frozen
class Fetched(Generic[T]):
    """One page as the walk got it, with the request that follows it."""

    request: PageRequest
    page: Page[T]
    ids: Sequence[Any]
    next: PageRequest | None
    # Why the next page cannot be requested (e.g. a foreign next link). Kept
    # aside so this page's items are still handed out before it is raised.
    next_error: AccuticsError | None = None


Fetch = Callable[[PageRequest, int], Awaitable[Fetched[T]]]


class Walk(Generic[T]):
    """The state of one walk: where it is, what is in flight, what it has seen.

    What comes next is started before a page is handed out, so the server
    works on it while the consumer reads this one: the fan-out after the
    first page (page-number listings, ``concurrency > 1``), or else the next
    page alone (read-ahead). Either stays within ``concurrency + 1`` pages,
    and nothing is started once the pages handed out hold every item wanted.
    """

    def __init__(
        self,
        fetch: Fetch[T],
        start: WalkPosition,
        *,
        item_budget: int | None,
        concurrency: int,
        max_pages: int | None,
        registry: set[FanOut[Any]],
        redact: Callable[[str], str],
    ) -> None:
        self._fetch = fetch
        self._start = start
        self._budget = item_budget
        self._concurrency = concurrency
        self._max_pages = max_pages
        self._registry = registry  # the pager's live fan-outs, for its aclose()
        self._redact = redact
        #: The page to take next (``None``: the walk is over) and its items to skip.
        self.request = start.request
        self.skip = start.skip
        #: Pages handed out, and items supplied (skipped and repeated ones not counted).
        self.handed = 0
        self.supplied = 0
        self._number = 0
        self._seen: set[int] = set()  # hashes of the URLs requested: the loop guard
        self._recent: deque[set[Any]] = deque(maxlen=_RECENT_PAGES)
        self._ids_here: set[Any] = _NO_IDS
        self._fan_out: FanOut[Fetched[T]] | None = None
        self._expected_total: int | None = None
        self._ahead: FanOut[Fetched[T]] | None = None

    def more(self) -> bool:
        """Whether there is a page left to take (``max_pages`` included)."""
        return self.request is not None and (
            self._max_pages is None or self._number < self._max_pages
        )

    async def take(self) -> Fetched[T]:
        """The page at ``request``: from the fan-out if trusted, the read-ahead, or fetched now."""
        request = self.request
        assert request is not None, "take() after the walk ended"
        self._number += 1
        fetched = await self._from_fan_out()
        if fetched is None:
            fetched = await self._from_read_ahead(request)
        if fetched is None:
            self._check_loop(request)
            fetched = await self._fetch(request, self._number)
        return fetched

    def account(self, fetched: Fetched[T]) -> frozenset[int]:
        """The indexes of ``fetched``'s items seen in the recent pages; counts what it supplies."""
        ids = fetched.ids
        self._ids_here = ids_here = id_set(ids) if ids else _NO_IDS
        dups = duplicate_indexes(ids, ids_here, self._recent) if ids_here else NO_DUPLICATES
        count = len(fetched.page.items)
        self.supplied += count - min(self.skip, count)
        if dups:
            self.supplied -= sum(1 for index in dups if index >= self.skip)
        return dups

    def schedule(self, fetched: Fetched[T]) -> bool:
        """Start what follows ``fetched``; true if a read-ahead request was started.

        The read-ahead needs an event-loop turn to go out, and a consumer
        that never awaits gives it none; so the caller takes one when this
        says so, and the server works on the next page while this one is read.
        """
        if self._number == 1 and self._concurrency > 1:
            self._start_fan_out(fetched)
        wanted = self._budget is None or self.supplied < self._budget
        if self._fan_out is None and wanted:
            self._ahead = self._read_ahead(fetched)
            return self._ahead is not None
        return False

    def advance(self, fetched: Fetched[T]) -> None:
        """``fetched`` was handed out: remember its ids, then move to the next request."""
        self.handed += 1
        self._recent.append(self._ids_here)
        self.skip = 0
        if fetched.next_error is not None:
            raise fetched.next_error
        self.request = fetched.next

    async def aclose(self) -> None:
        """Cancel what is in flight (the walk is over, however it ended)."""
        for pending in (self._fan_out, self._ahead):
            if pending is not None:
                await pending.aclose()
        self._fan_out = self._ahead = None

    # -- the steps' parts --------------------------------------------------

    async def _from_fan_out(self) -> Fetched[T] | None:
        """The fan-out's next page; ``None`` (and the fan-out stopped) when done or drifted.

        After drift the walk falls back to following next links from the
        last trusted page; the recent-id window drops what repeats.
        """
        fan_out = self._fan_out
        if fan_out is None:
            return None
        fetched = await fan_out.next()
        if fetched is not None and (
            self._expected_total is None or self._drift(fetched, fan_out) is None
        ):
            return fetched
        await fan_out.aclose()
        self._fan_out = None
        return None

    async def _from_read_ahead(self, request: PageRequest) -> Fetched[T] | None:
        """The page the read-ahead started a page earlier (it is ``request``), if one did."""
        ahead = self._ahead
        if ahead is None:
            return None
        fetched = await ahead.next()
        await ahead.aclose()
        self._ahead = None
        if fetched is None:  # stopped before it arrived (see FanOut._owner)
            fetched = await self._fetch(request, self._number)
        return fetched

    def _check_loop(self, request: PageRequest) -> None:
        key = hash(request.url)
        if key in self._seen:
            # The URL is the server's link (or a checkpoint's): it could embed the token.
            url = self._redact(request.url)
            raise PaginationError(f"pagination loop: {url} was already fetched in this walk")
        self._seen.add(key)

    def _read_ahead(self, fetched: Fetched[T]) -> FanOut[Fetched[T]] | None:
        """Start fetching the page after ``fetched``, if the walk will want it."""
        following = fetched.next
        if following is None or (self._max_pages is not None and self._number >= self._max_pages):
            return None
        if hash(following.url) in self._seen:
            return None  # a loop: the walk raises when it gets there, not before
        self._check_loop(following)
        return FanOut(self._fetch, self._registry, [following], 1, first_number=self._number + 1)

    def _start_fan_out(self, first: Fetched[T]) -> None:
        pagination = first.page.meta.pagination
        if not isinstance(pagination, PageNumberPagination) or first.next is None:
            return  # cursor endpoints are inherently sequential
        budget = None if self._budget is None else self._budget + self._start.skip
        plan = page_plan(first.request, pagination, item_budget=budget)
        if self._max_pages is not None:
            plan = plan[: self._max_pages - 1]
        if plan:
            self._fan_out = FanOut(self._fetch, self._registry, plan, self._concurrency)
            self._expected_total = pagination.total_items

    def _drift(self, fetched: Fetched[T], fan_out: FanOut[Fetched[T]]) -> str | None:
        pagination = fetched.page.meta.pagination
        if not isinstance(pagination, PageNumberPagination):
            return "the page is not a page-number page"
        return drift_reason(
            pagination=pagination,
            expected_total=self._expected_total,
            is_last_planned=fan_out.exhausted,
            count=len(fetched.page.items),
            ids=fetched.ids,
            recent_ids=set().union(*self._recent),
        )
