"""AsyncPager: one walk over a paginated listing, sequential or fanned out.

The decisions (next request, page plan, drift, checkpoints) are pure
functions in ``_paging.py``; this module only schedules fetches and hands
items out in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from operator import length_hint
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import quote, urlencode
from weakref import WeakSet

import attrs

from ._fanout import FanOut
from ._models import Page, PageNumberPagination
from ._paging import (
    NO_DUPLICATES,
    PageRequest,
    WalkPosition,
    checkpoint_dict,
    drift_reason,
    duplicate_indexes,
    fingerprint,
    id_set,
    item_ids,
    next_request,
    page_plan,
    position_from_checkpoint,
    query_param,
)
from ._protocol import Params, PathLike, build_url, encode_params
from ._search import Filter, Search, format_sort, to_wire
from ._structuring import structure_items
from .errors import AccuticsError, ConfigurationError, DecodeError, PaginationError

if TYPE_CHECKING:
    from ._client import AccuticsClient

__all__ = ["AsyncPager"]

T = TypeVar("T")
U = TypeVar("U")

# How many recent pages' ids are kept to recognise a record seen twice at a
# page boundary (offset pagination shifts by whole records when data moves).
_RECENT_PAGES = 2
_NO_IDS: set[Any] = set()  # shared, so never changed


@attrs.frozen
class _Fetched(Generic[T]):
    request: PageRequest
    page: Page[T]
    ids: Sequence[Any]
    next: PageRequest | None
    # Why the next page cannot be requested (e.g. a foreign next link). Kept
    # aside so this page's items are still handed out before it is raised.
    next_error: AccuticsError | None = None


def _count(name: str, value: int | None, minimum: int) -> None:
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < minimum
    ):
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}")


# The query parameters the pager itself sets, by the argument that sets them.
# API_BASICS.md names them: "search", "sort", "page_size" (size_param),
# "page" (page_param) and "cursor" (cursor_param); a checkpoint sets the
# page or cursor to resume from.
_OWNED_PARAMS = (
    ("search", ("search",)),
    ("sort", ("sort",)),
    ("page_size", ("page_size",)),
    ("resume", ("page", "cursor")),
)


def _check_owned_params(extra: Sequence[tuple[str, str]], **arguments: object) -> None:
    """``ConfigurationError`` if ``params`` names a parameter an argument also sets."""
    names = {name for name, _ in extra}
    for argument, owned in _OWNED_PARAMS:
        if arguments[argument] is None:
            continue
        for name in owned:
            if name in names:
                raise ConfigurationError(
                    f"params={{{name!r}: ...}} and {argument}= both set the {name!r} "
                    f"parameter; pass it one way only"
                )


class AsyncPager(Generic[T]):
    """Every item of a paginated listing, fetched page by page as you read.

    ``async for item in pager`` yields items across pages; ``pager.pages()``
    yields :class:`Page` objects; ``await pager.collect(limit=N)`` gathers a
    list; ``await pager.first_page()`` fetches just one page.
    ``pager.checkpoint`` is a JSON-serialisable dict from which
    ``client.paginate(..., resume=checkpoint)`` continues right after the
    last item handed out. Create pagers with :meth:`AccuticsClient.paginate`.
    """

    def __init__(
        self,
        client: AccuticsClient,
        path: PathLike,
        *,
        params: Params | None = None,
        search: Search | Filter | str | None = None,
        sort: str | Sequence[str] | None = None,
        page_size: int | None = None,
        model: type[T] | None = None,
        concurrency: int = 1,
        max_items: int | None = None,
        max_pages: int | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        _count("page_size", page_size, 1)
        _count("concurrency", concurrency, 1)
        _count("max_items", max_items, 0)
        _count("max_pages", max_pages, 1)
        if concurrency > client.max_concurrency:
            # Capping it silently would hide why an export runs slower than asked.
            raise ConfigurationError(
                f"concurrency={concurrency} is over the client's max_concurrency="
                f"{client.max_concurrency}; raise max_concurrency or lower concurrency"
            )
        self._client = client
        self._model = model
        self._concurrency = concurrency
        self._max_items = max_items
        self._max_pages = max_pages
        search_text = to_wire(search)
        sort_text = format_sort(sort)
        extra = encode_params(params)
        _check_owned_params(
            extra, search=search_text, sort=sort_text, page_size=page_size, resume=resume
        )
        base = build_url(client.base_url, path)
        query = list(extra)
        if search_text is not None:
            query.append(("search", search_text))
        if sort_text is not None:
            query.append(("sort", sort_text))
        if page_size is not None:
            query.append(("page_size", str(page_size)))
        url = f"{base}?{urlencode(query, quote_via=quote)}" if query else base
        self._fingerprint = fingerprint(
            base, search=search_text, sort=sort_text, page_size=page_size, params=extra
        )
        number = query_param(url, "page")
        start = PageRequest(url, int(number) if number and number.isdigit() else 1)
        self._start = (
            WalkPosition(start)
            if resume is None
            else position_from_checkpoint(
                resume, fp=self._fingerprint, base_url=client.base_url, start_url=url
            )
        )
        # The reading position: the page being handed out and the raw index
        # of its next item. ``None`` until the first page arrives. While
        # ``_items`` hands out a page without duplicates it does not update
        # these per item: ``_iter`` is then the list iterator it reads, and
        # ``_position()`` derives the index from how much of it is left.
        self._reading: _Fetched[T] | None = None
        self._next_index = 0
        self._yielded = self._start.yielded
        self._iter: Iterator[T] | None = None
        self._iter_stop = 0
        self._total_items: int | None = None
        self._walks: WeakSet[AsyncGenerator[Any, None]] = WeakSet()
        self._fan_outs: set[FanOut[_Fetched[T]]] = set()

    def __repr__(self) -> str:
        # A resumed walk starts at a URL read from a checkpoint file.
        url = self._start.request.url if self._start.request else "done"
        return f"<AsyncPager {self._client._redact_text(url)}>"

    @property
    def checkpoint(self) -> dict[str, Any]:
        """Where to resume: after the last item (or, for ``pages()``, page) handed out."""
        return checkpoint_dict(self._current_position(), self._fingerprint)

    def _restart(self) -> None:
        # Each iteration is a new walk from the pager's start (or checkpoint).
        self._reading = None
        self._next_index = 0
        self._yielded = self._start.yielded
        self._iter = None

    def _position(self) -> tuple[int, int]:
        """``(raw index of the next item of the page being read, items yielded so far)``."""
        it = self._iter
        if it is None:
            return self._next_index, self._yielded
        # A list iterator's length hint is exactly what is left of it, so the
        # index of the next item is known without a store per item. The item
        # just yielded has been taken from the iterator: it counts as done.
        index = self._iter_stop - length_hint(it)
        return index, self._yielded + (index - self._next_index)

    def _current_position(self) -> WalkPosition:
        fetched = self._reading
        index, yielded = self._position()
        if fetched is None:
            return attrs.evolve(self._start, yielded=yielded)
        if index >= len(fetched.page.items) and fetched.next_error is None:
            return WalkPosition(fetched.next, 0, yielded)
        return WalkPosition(fetched.request, index, yielded)

    @property
    def total_items(self) -> int | None:
        """``total_items`` from the last page-number meta seen, else ``None``."""
        return self._total_items

    # -- public iteration ------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        return self._track(self._items(self._max_items))

    def pages(self) -> AsyncIterator[Page[T]]:
        """Yield each page in order; a page handed out counts as done for the checkpoint."""
        return self._track(self._pages())

    def _track(self, walk: AsyncGenerator[U, None]) -> AsyncGenerator[U, None]:
        self._walks.add(walk)
        return walk

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        remaining = self._max_items
        self._restart()
        async with aclosing(self._walk(self._start, remaining)) as walk:
            async for fetched, skip, dups in walk:
                raw = fetched.page.items
                kept = [i for i in range(skip, len(raw)) if i not in dups]
                if remaining is not None:
                    kept = kept[:remaining]
                    remaining -= len(kept)
                page = fetched.page
                if len(kept) != len(raw):
                    page = attrs.evolve(page, items=[raw[i] for i in kept])
                # A page handed out counts as done; a page cut by max_items
                # is done up to its last kept item.
                self._reading = fetched
                self._iter = None
                self._next_index = kept[-1] + 1 if remaining == 0 and kept else len(raw)
                self._yielded += len(kept)
                yield page
                if remaining == 0:
                    return

    async def collect(self, limit: int | None = None) -> list[T]:
        """All items as a list, or the first ``limit`` (fetching at most one page past it)."""
        _count("limit", limit, 0)
        bounds = [b for b in (limit, self._max_items) if b is not None]
        budget = min(bounds) if bounds else None
        found: list[T] = []
        if budget == 0:
            return found
        async with aclosing(self._items(budget)) as items:
            async for item in items:
                found.append(item)
        return found

    async def first_page(self) -> Page[T]:
        """Fetch and return only the first page of this walk (the checkpoint is unchanged)."""
        if self._start.request is None:
            raise PaginationError("this pager resumes a finished walk: there is no page left")
        return (await self._fetch(self._start.request, 1)).page

    async def aclose(self) -> None:
        """Stop every walk of this pager: cancel in-flight page fetches, release connections."""
        # A walk left by `break` is finalised by the event loop a moment
        # later; its in-flight fetches are cancelled here and now.
        for fan_out in list(self._fan_outs):
            await fan_out.aclose()
        for walk in list(self._walks):
            await walk.aclose()

    async def __aenter__(self) -> AsyncPager[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the walk ----------------------------------------------------------

    async def _items(self, budget: int | None) -> AsyncGenerator[T, None]:
        if budget == 0:
            return
        handed = 0
        self._restart()
        async with aclosing(self._walk(self._start, budget)) as walk:
            async for fetched, skip, dups in walk:
                items = fetched.page.items
                self._reading = fetched
                self._iter = None
                self._next_index = skip
                if dups:
                    for index in range(skip, len(items)):
                        # Recorded before the yield: once the consumer holds
                        # the item it counts as done, even if it never asks
                        # again.
                        self._next_index = index + 1
                        if index in dups:
                            continue
                        self._yielded += 1
                        yield items[index]
                        handed += 1
                        if handed == budget:
                            return
                    continue
                # The per-item hot path: nothing but the yield (see _position).
                stop = len(items)
                if budget is not None:
                    stop = min(stop, skip + budget - handed)
                view = items if skip == 0 and stop == len(items) else items[skip:stop]
                self._iter_stop = stop
                self._iter = it = iter(view)
                for item in it:
                    yield item
                self._iter = None
                self._yielded += stop - skip
                self._next_index = stop
                handed += stop - skip
                if handed == budget:
                    return

    async def _walk(
        self, start: WalkPosition, item_budget: int | None
    ) -> AsyncGenerator[tuple[_Fetched[T], int, frozenset[int]], None]:
        """Yield ``(fetched page, items to skip, indexes of duplicates)`` in order.

        What comes next is started before a page is handed out, so the
        server works on it while the consumer reads this one: the fan-out
        after the first page, or else the next page alone (read-ahead).
        Either stays within ``concurrency + 1`` pages, and nothing is
        started once the pages handed out hold every item wanted.

        The read-ahead request needs an event-loop turn to go out, and a
        consumer that never awaits gives it none; so the walk takes one turn
        itself right after starting it, and the server works on the next
        page while this one is read.
        """
        request, skip = start.request, start.skip
        seen: set[int] = set()
        recent: deque[set[Any]] = deque(maxlen=_RECENT_PAGES)
        fan_out: FanOut[_Fetched[T]] | None = None
        ahead: FanOut[_Fetched[T]] | None = None
        number = 0
        supplied = 0
        expected_total: int | None = None
        try:
            while request is not None and (self._max_pages is None or number < self._max_pages):
                number += 1
                fetched = await fan_out.next() if fan_out is not None else None
                if fetched is not None and expected_total is not None:
                    reason = self._drift(fetched, expected_total, fan_out, recent)
                    if reason is not None:
                        # Fall back to following next links from the last
                        # trusted page; the recent-id window drops repeats.
                        fetched = None
                if fetched is None and fan_out is not None:
                    await fan_out.aclose()
                    fan_out = None
                if fetched is None and ahead is not None:
                    fetched = await ahead.next()  # `request`, started a page earlier
                    await ahead.aclose()
                    ahead = None
                    if fetched is None:  # stopped before it arrived (see FanOut._owner)
                        fetched = await self._fetch(request, number)
                if fetched is None:
                    self._check_loop(request, seen)
                    fetched = await self._fetch(request, number)
                ids_here = id_set(fetched.ids) if fetched.ids else _NO_IDS
                dups = (
                    duplicate_indexes(fetched.ids, ids_here, recent) if ids_here else NO_DUPLICATES
                )
                supplied += len(fetched.page.items) - min(skip, len(fetched.page.items))
                supplied -= sum(1 for index in dups if index >= skip) if dups else 0
                if number == 1 and self._concurrency > 1:
                    fan_out, expected_total = self._start_fan_out(fetched, start, item_budget)
                wanted = item_budget is None or supplied < item_budget
                if fan_out is None and wanted:
                    ahead = self._read_ahead(fetched, number, seen)
                    if ahead is not None:
                        await asyncio.sleep(0)  # puts its request on the wire
                yield fetched, skip, dups
                recent.append(ids_here)
                skip = 0
                if fetched.next_error is not None:
                    raise fetched.next_error
                request = fetched.next
        finally:
            for pending in (fan_out, ahead):
                if pending is not None:
                    await pending.aclose()

    def _check_loop(self, request: PageRequest, seen: set[int]) -> None:
        key = hash(request.url)
        if key in seen:
            # The URL is the server's link (or a checkpoint's): it could embed the token.
            url = self._client._redact_text(request.url)
            raise PaginationError(f"pagination loop: {url} was already fetched in this walk")
        seen.add(key)

    def _read_ahead(
        self, fetched: _Fetched[T], number: int, seen: set[int]
    ) -> FanOut[_Fetched[T]] | None:
        """Start fetching the page after ``fetched``, if the walk will want it."""
        following = fetched.next
        if following is None or (self._max_pages is not None and number >= self._max_pages):
            return None
        if hash(following.url) in seen:
            return None  # a loop: the walk raises when it gets there, not before
        self._check_loop(following, seen)
        return FanOut(self._fetch, self._fan_outs, [following], 1, first_number=number + 1)

    def _start_fan_out(
        self, first: _Fetched[T], start: WalkPosition, item_budget: int | None
    ) -> tuple[FanOut[_Fetched[T]] | None, int | None]:
        pagination = first.page.meta.pagination
        if not isinstance(pagination, PageNumberPagination) or first.next is None:
            return None, None  # cursor endpoints are inherently sequential
        budget = None if item_budget is None else item_budget + start.skip
        plan = page_plan(first.request, pagination, item_budget=budget)
        if self._max_pages is not None:
            plan = plan[: self._max_pages - 1]
        if not plan:
            return None, None
        return FanOut(self._fetch, self._fan_outs, plan, self._concurrency), pagination.total_items

    def _drift(
        self,
        fetched: _Fetched[T],
        expected_total: int,
        fan_out: FanOut[_Fetched[T]] | None,
        recent: deque[set[Any]],
    ) -> str | None:
        pagination = fetched.page.meta.pagination
        if not isinstance(pagination, PageNumberPagination):
            return "the page is not a page-number page"
        return drift_reason(
            pagination=pagination,
            expected_total=expected_total,
            is_last_planned=fan_out is None or fan_out.exhausted,
            count=len(fetched.page.items),
            ids=fetched.ids,
            recent_ids=set().union(*recent),
        )

    async def _fetch(self, request: PageRequest, number: int) -> _Fetched[T]:
        resp = await self._client.request("GET", request.url)
        data = resp.data
        if not isinstance(data, list):
            raise DecodeError(
                f"{request.url}: a listing's 'data' must be an array, got {type(data).__name__}",
                status=resp.status,
                kind="not_envelope",
            )
        pagination = resp.meta.pagination
        ids: Sequence[Any] = ()
        if isinstance(pagination, PageNumberPagination):
            self._total_items = pagination.total_items
            # Offset pages can repeat a record when data moves; ids let the
            # walk notice. Cursor pages cannot, so they skip the cost.
            ids = item_ids(data)
        # Without a model the items are the JSON objects themselves (T is
        # then dict[str, Any], as paginate()'s overloads say).
        items: list[T] = (
            cast("list[T]", data) if self._model is None else self._structure(data, request.url)
        )
        page = Page(items=items, meta=resp.meta, number=request.number or number, url=request.url)
        try:
            following = next_request(request, resp.meta, self._client.base_url)
        except AccuticsError as exc:
            # The message quotes the server's link, which could embed the token.
            self._client._redact_exception(exc)
            return _Fetched(request, page, ids, None, exc)
        return _Fetched(request, page, ids, following)

    def _structure(self, data: list[Any], url: str) -> list[T]:
        assert self._model is not None
        return structure_items(data, self._model, url)
