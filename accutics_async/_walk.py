"""One walk over a listing, as explicit steps: take a page, account for it, schedule what follows.

``AsyncPager`` drives a :class:`Walk` from a short loop::

    while walk.more():
        fetched = await walk.take()      # fan-out, read-ahead, or fetched now
        dups = walk.account(fetched)     # repeats at a page boundary, items supplied
        if walk.schedule(fetched):       # start the fan-out's next pages or the read-ahead
            await asyncio.sleep(0)       # ... and let their requests go out
        yield fetched, walk.skip, dups
        walk.advance(fetched)            # the loop guard's memory, then the next request

Pipelining: while the walk waits for a page, the fetch calls :meth:`Walk.early`
with the page's ``meta`` as soon as it is read, before the page's data is
decoded; the walk starts what ``schedule`` would start (the read-ahead, or
the fan-out after the first page) right then, so the server works on the
next page while this one decodes. ``schedule`` keeps it only if the page, fully
decoded, has the same ``meta`` and the same next request; otherwise it is
dropped and the walk goes on as if it never started.

The decisions inside each step (the next request, the page plan, drift, the
repeated ids) are pure functions of ``_sansio.paging``; this module only holds the
walk's state and the fetches it has in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._fanout import FanOut, Turn
from ._sansio.models import Meta, Page, PageNumberPagination
from ._sansio.paging import (
    NO_DUPLICATES,
    PageRequest,
    WalkPosition,
    drift_reason,
    duplicate_indexes,
    page_plan,
)
from .errors import AccuticsError, PaginationError

__all__ = ["Early", "Fetched", "Walk"]

T = TypeVar("T")

# How many recent pages' ids are kept to recognise a record seen twice at a
# page boundary (offset pagination shifts by whole records when data moves).
_RECENT_PAGES = 2


@attrs.frozen
class Fetched(Generic[T]):
    """One page as the walk got it, with the request that follows it."""

    request: PageRequest
    page: Page[T]
    #: Each item's id where records can repeat (page-number pages), and the
    #: set of them, built once for the repeat check and the drift check.
    ids: Sequence[Any]
    distinct_ids: set[Any]
    next: PageRequest | None
    # Why the next page cannot be requested (e.g. a foreign next link). Kept
    # aside so this page's items are still handed out before it is raised.
    next_error: AccuticsError | None = None


#: ``early(request, meta, following)``: ``request``'s meta is read (and the
#: request after it is ``following``); true if that started a request.
Early = Callable[[PageRequest, Meta, "PageRequest | None"], bool]
Fetch = Callable[[PageRequest, int, "Early | None", "Turn | None"], Awaitable[Fetched[T]]]


@attrs.define
class _Ahead(Generic[T]):
    """The one page fetched ahead of the page being handed out."""

    request: PageRequest
    task: asyncio.Task[Fetched[T]]


@attrs.define
class _Started:
    """What :meth:`Walk.early` started, and the ``meta`` and next request it trusted."""

    meta: Meta
    following: PageRequest | None


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
        registry: set[Walk[Any]],
        redact: Callable[[str], str],
    ) -> None:
        self._fetch = fetch
        self._start = start
        self._budget = item_budget
        self._concurrency = concurrency
        self._max_pages = max_pages
        self._registry = registry  # the pager's live walks, for its aclose()
        self._redact = redact
        #: The page to take next (``None``: the walk is over) and its items to skip.
        self.request = start.request
        self.skip = start.skip
        #: Items of the pages taken so far, skipped and repeated ones not counted:
        #: what the budget is checked against.
        self.supplied = 0
        self._number = 0
        self._seen: set[int] = set()  # hashes of the URLs requested: the loop guard
        self._recent: deque[set[Any]] = deque(maxlen=_RECENT_PAGES)
        self._ids_here: set[Any] = set()
        self._fan_out: FanOut[Fetched[T]] | None = None
        self._expected_total: int | None = None
        # The page the drift check found free of the recent pages' ids.
        self._disjoint: Fetched[T] | None = None
        self._ahead: _Ahead[T] | None = None
        # The request the walk is waiting for now: only its meta may start more.
        self._awaiting: PageRequest | None = None
        self._started: _Started | None = None
        self._dropped: list[asyncio.Task[Any]] = []
        # The task reading the walk. If it is cancelled while it holds an item
        # (`async for` does not close its iterator then, and a traceback may
        # keep the iterator alive), the pages in flight are cancelled at once,
        # not when the garbage collector finally finds the generators. A walk
        # that another task goes on with then fetches them itself.
        self._owner: asyncio.Task[Any] | None = None
        registry.add(self)

    def more(self) -> bool:
        """Whether there is a page left to take (``max_pages`` included)."""
        return self.request is not None and (
            self._max_pages is None or self._number < self._max_pages
        )

    async def take(self) -> Fetched[T]:
        """The page at ``request``: from the fan-out if trusted, the read-ahead, or fetched now."""
        request = self.request
        assert request is not None, "take() after the walk ended"
        # Watched from here, the consumer's task: what starts pages early runs
        # inside a fetch's task, which must not be taken for the consumer.
        self._watch_owner()
        self._number += 1
        fetched = await self._from_fan_out()
        if fetched is None:
            fetched = await self._from_read_ahead(request)
        if fetched is None:
            self._check_loop(request)
            self._awaiting = request
            try:
                fetched = await self._fetch(request, self._number, self.early, None)
            finally:
                self._awaiting = None
        return fetched

    def early(self, request: PageRequest, meta: Meta, following: PageRequest | None) -> bool:
        """``request``'s ``meta`` is in, its data not yet decoded: start what follows it now.

        Only while the walk waits for ``request`` (a page read ahead while the
        consumer still holds the one before must not start a third), and
        only what :meth:`schedule` would start for that meta.
        """
        if request is not self._awaiting or self._started is not None:
            return False
        if self._fan_out is not None or self._ahead is not None:
            return False
        pagination = meta.pagination
        if (
            self._number == 1
            and self._concurrency > 1
            and following is not None
            and isinstance(pagination, PageNumberPagination)
        ):
            fan_out = self._start_fan_out(request, pagination)
            if fan_out is not None:
                fan_out.take_unsent()  # their turn comes from the caller (Sender.attempt)
                self._started = _Started(meta, following)
                return True
            # Nothing to plan (no totals): the walk reads ahead instead, as schedule() would.
        if self._budget is not None:
            # This page's items are not counted yet: start only if even a
            # full page (as the server declares it) leaves more to want.
            size = getattr(pagination, "items_per_page", None)
            if not isinstance(size, int) or self.supplied + size >= self._budget:
                return False
        ahead = self._read_ahead(following)
        if ahead is None:
            return False
        self._ahead = ahead
        self._started = _Started(meta, following)
        return True

    def account(self, fetched: Fetched[T]) -> frozenset[int]:
        """The indexes of ``fetched``'s items seen in the recent pages; counts what it supplies."""
        self._ids_here = ids_here = fetched.distinct_ids
        # A fan-out page that passed the drift check shares no id with the
        # recent pages: no need to look again.
        checked, self._disjoint = self._disjoint, None
        if not ids_here or checked is fetched:
            dups = NO_DUPLICATES
        else:
            dups = duplicate_indexes(fetched.ids, ids_here, self._recent)
        count = len(fetched.page.items)
        self.supplied += count - min(self.skip, count)
        if dups:
            self.supplied -= sum(1 for index in dups if index >= self.skip)
        return dups

    def schedule(self, fetched: Fetched[T]) -> bool:
        """Start what follows ``fetched``; true if requests started since the last call need a turn.

        A request just started (the read-ahead started here, or the pages
        the fan-out started as it handed this one out) needs an event-loop
        turn to go out, and a consumer that never awaits gives it none; so
        the caller takes one when this says so, and the server works on the
        next pages while this one is read.
        """
        wanted = self._budget is None or self.supplied < self._budget
        started, self._started = self._started, None
        if started is not None:
            if (
                (wanted or self._fan_out is not None)
                and fetched.page.meta == started.meta
                and fetched.next == started.following
            ):
                return False  # started, and given its turn, when the meta was read
            self._drop_started()
        if self._number == 1 and self._concurrency > 1:
            pagination = fetched.page.meta.pagination
            if isinstance(pagination, PageNumberPagination) and fetched.next is not None:
                self._start_fan_out(fetched.request, pagination)
        if self._fan_out is None and wanted:
            self._ahead = self._read_ahead(fetched.next)
            return self._ahead is not None
        return self._fan_out is not None and self._fan_out.take_unsent()

    def advance(self, fetched: Fetched[T]) -> None:
        """``fetched`` was handed out: remember its ids, then move to the next request."""
        self._recent.append(self._ids_here)
        self.skip = 0
        if fetched.next_error is not None:
            raise fetched.next_error
        self.request = fetched.next

    async def aclose(self) -> None:
        """Cancel what is in flight (the walk is over, however it ended)."""
        self._registry.discard(self)
        if self._owner is not None:
            self._owner.remove_done_callback(self._owner_done)
            self._owner = None
        pending = self._stop()
        # Awaited only when something is still running: an aclose that does
        # not suspend cannot overlap the event loop's own finalisation of
        # the same generators.
        pending = [task for task in pending if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

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
            if self._expected_total is not None:
                self._disjoint = fetched
            return fetched
        await fan_out.aclose()
        self._fan_out = None
        return None

    async def _from_read_ahead(self, request: PageRequest) -> Fetched[T] | None:
        """The page the read-ahead started a page earlier (it is ``request``), if one did."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None  # none started, or stopped before it arrived (see _owner_done)
        self._awaiting = ahead.request
        try:
            return await ahead.task
        finally:
            self._awaiting = None

    def _check_loop(self, request: PageRequest) -> None:
        key = hash(request.url)
        if key in self._seen:
            # The URL is the server's link (or a checkpoint's): it could embed the token.
            url = self._redact(request.url)
            raise PaginationError(f"pagination loop: {url} was already fetched in this walk")
        self._seen.add(key)

    def _read_ahead(self, following: PageRequest | None) -> _Ahead[T] | None:
        """Start fetching ``following``, the page after this one, if the walk will want it."""
        if following is None or (self._max_pages is not None and self._number >= self._max_pages):
            return None
        if hash(following.url) in self._seen:
            return None  # a loop: the walk raises when it gets there, not before
        self._check_loop(following)
        task = asyncio.ensure_future(self._fetch(following, self._number + 1, self.early, None))
        return _Ahead(following, task)

    def _start_fan_out(
        self, first: PageRequest, pagination: PageNumberPagination
    ) -> FanOut[Fetched[T]] | None:
        budget = None if self._budget is None else self._budget + self._start.skip
        plan = page_plan(first, pagination, item_budget=budget)
        if self._max_pages is not None:
            plan = plan[: self._max_pages - 1]
        if not plan:
            return None
        fetch = self._fetch
        self._fan_out = FanOut(lambda r, n, turn: fetch(r, n, None, turn), plan, self._concurrency)
        self._expected_total = pagination.total_items
        return self._fan_out

    def _drop_started(self) -> None:
        """Forget what :meth:`early` started: the page read it differently after all."""
        for task in self._detach_in_flight():
            # Kept (for aclose to wait for) only until the cancellation is done.
            self._dropped.append(task)
            task.add_done_callback(self._forget_dropped)

    def _forget_dropped(self, task: asyncio.Task[Any]) -> None:
        if task in self._dropped:
            self._dropped.remove(task)
        _retrieve(task)

    def _watch_owner(self) -> None:
        owner = asyncio.current_task()
        if owner is not self._owner:
            if self._owner is not None:
                self._owner.remove_done_callback(self._owner_done)
            self._owner = owner
            if owner is not None:
                owner.add_done_callback(self._owner_done)

    def _owner_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._stop()

    def _stop(self) -> list[asyncio.Task[Any]]:
        """Cancel every fetch in flight and forget them; return their tasks."""
        tasks, self._dropped = self._dropped, []
        tasks += self._detach_in_flight()
        for task in tasks:
            # So a page that failed while nobody waited for it does not log
            # "Task exception was never retrieved".
            task.add_done_callback(_retrieve)
        return tasks

    def _detach_in_flight(self) -> list[asyncio.Task[Any]]:
        """Cancel the read-ahead and the fan-out, and forget them; return their tasks."""
        tasks = []
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            # Not fetched after all: if the walk goes on to that page, it
            # fetches it itself, and the loop guard must not take that for a loop.
            self._seen.discard(hash(ahead.request.url))
            ahead.task.cancel()
            tasks.append(ahead.task)
        fan_out, self._fan_out = self._fan_out, None
        if fan_out is not None:
            tasks.extend(fan_out.stop())
            self._expected_total = None
        return tasks

    def _drift(self, fetched: Fetched[T], fan_out: FanOut[Fetched[T]]) -> str | None:
        pagination = fetched.page.meta.pagination
        if not isinstance(pagination, PageNumberPagination):
            return "the page is not a page-number page"
        return drift_reason(
            pagination=pagination,
            expected_total=self._expected_total,
            is_last_planned=fan_out.exhausted,
            count=len(fetched.page.items),
            ids=fetched.distinct_ids,
            recent=self._recent,
        )


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
