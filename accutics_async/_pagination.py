"""AsyncPager: one walk over a paginated listing, sequential or fanned out.

The decisions (next request, page plan, drift, checkpoints) are pure
functions in ``_sansio.paging``, the walk's steps are ``_walk.Walk``'s; this
module hands the items out in order and keeps the checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from weakref import WeakSet

import attrs

from ._fanout import excluding_waits
from ._observe import Operation
from ._reading import Reading
from ._sansio.models import Meta, Page, PageNumberPagination, Response
from ._sansio.paging import (
    PageRequest,
    WalkPosition,
    checkpoint_dict,
    id_set,
    item_ids,
    next_request,
    position_from_checkpoint,
    query_param,
)
from ._sansio.query import Query, check_count
from ._sansio.structuring import structure_hook, structure_items, structure_prefix
from ._source import PageSource
from ._walk import Early, Fetched, Walk
from .errors import AccuticsError, ConfigurationError, DecodeError, PaginationError

if TYPE_CHECKING:
    from ._fanout import Turn

__all__ = ["AsyncPager"]

T = TypeVar("T")
U = TypeVar("U")

# With a model, items handed out one by one are structured this many at a time
# as they go: what a consumer drops is freed at once. A page structured ahead
# lives until its last item is read, and its hundreds of new objects set off
# the garbage collector (a sixth of a sequential typed walk's CPU, nested records).
_STRUCTURE_BATCH = 16


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
        source: PageSource,
        query: Query,
        *,
        model: type[T] | None = None,
        concurrency: int = 1,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        check_count("concurrency", concurrency, 1)
        if concurrency > source.max_concurrency:
            # Capping it silently would hide why an export runs slower than asked.
            raise ConfigurationError(
                f"concurrency={concurrency} is over the client's max_concurrency="
                f"{source.max_concurrency}; raise max_concurrency or lower concurrency"
            )
        query.refuse_in_params("resume", resume)
        self._source = source
        self._query = query
        self._model = model
        self._concurrency = concurrency
        url = query.first_url(source.base_url)
        self._fingerprint = query.fingerprint(source.base_url)
        number = query_param(url, "page")
        start = PageRequest(url, int(number) if number and number.isdigit() else 1)
        self._start = (
            WalkPosition(start)
            if resume is None
            else position_from_checkpoint(
                resume, fp=self._fingerprint, base_url=source.base_url, start_url=url
            )
        )
        # Where the latest iteration is, for the checkpoint.
        self._reading: Reading[T] = Reading(self._start.yielded)
        self._total_items: int | None = None
        self._walks: WeakSet[AsyncGenerator[Any, None]] = WeakSet()
        self._live: set[Walk[Any]] = set()

    @property
    def query(self) -> Query:
        """What this pager walks: the listing, its search, sort, page size and limits."""
        return self._query

    @property
    def source(self) -> PageSource:
        """The client this pager fetches its pages through."""
        return self._source

    def __repr__(self) -> str:
        # A resumed walk starts at a URL read from a checkpoint file.
        url = self._start.request.url if self._start.request else "done"
        return f"<AsyncPager {self._source.redactor.text(url)}>"

    @property
    def checkpoint(self) -> dict[str, Any]:
        """Where to resume: after the last item (or, for ``pages()``, page) handed out."""
        return checkpoint_dict(self._reading.walk_position(self._start), self._fingerprint)

    def _restart(self) -> Reading[T]:
        # Each iteration is a new walk from the pager's start (or checkpoint).
        reading: Reading[T] = Reading(self._start.yielded)
        self._reading = reading
        return reading

    @property
    def total_items(self) -> int | None:
        """``total_items`` from the last page-number meta seen, else ``None``."""
        return self._total_items

    # -- public iteration ------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        return self._track(self._items(self._query.max_items))

    def pages(self) -> AsyncIterator[Page[T]]:
        """Yield each page in order; a page handed out counts as done for the checkpoint."""
        return self._track(self._pages())

    def _track(self, walk: AsyncGenerator[U, None]) -> AsyncGenerator[U, None]:
        self._walks.add(walk)
        return walk

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        remaining = self._query.max_items
        if remaining == 0:
            return  # as for items: no page to hand out, so none is fetched
        reading = self._restart()
        async with aclosing(self._walk(self._start, remaining, reading)) as walk:
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
                reading.fetched = fetched
                reading.next_index = kept[-1] + 1 if remaining == 0 and kept else len(raw)
                reading.yielded += len(kept)
                yield page
                if remaining == 0:
                    return

    async def collect(self, limit: int | None = None) -> list[T]:
        """All items as a list, or the first ``limit`` (fetching at most one page past it)."""
        check_count("limit", limit, 0)
        bounds = [b for b in (limit, self._query.max_items) if b is not None]
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
        for live in list(self._live):
            await live.aclose()
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
        reading = self._restart()
        lazy = self._model is not None  # the pages hold JSON items: see _batches
        async with aclosing(self._walk(self._start, budget, reading, lazy=lazy)) as walk:
            async for fetched, skip, dups in walk:
                reading.fetched = fetched
                reading.iter = None
                reading.next_index = skip
                stop = len(fetched.page.items)
                if budget is not None:
                    stop = min(stop, skip + budget - handed)
                try:
                    if dups:
                        for item in self._kept(fetched, skip, dups, reading):
                            reading.yielded += 1
                            yield item
                            handed += 1
                            if handed == budget:
                                return
                        continue
                    # The per-item hot path: nothing but the yield (see Reading).
                    for begin, batch in self._batches(fetched, skip, stop):
                        reading.iter_stop = begin + len(batch)
                        reading.iter = it = iter(batch)
                        for item in it:
                            yield item
                        reading.iter = None
                        reading.yielded += len(batch)
                        reading.next_index = begin + len(batch)
                except DecodeError as exc:  # an item that does not fit the model
                    # Raised through the walk, so its span records the failure too.
                    self._source.redactor.exception(exc)  # it quotes the page's URL
                    await walk.athrow(exc)
                    raise  # pragma: no cover - athrow raises it
                handed += stop - skip
                if handed == budget:
                    return

    def _batches(
        self, fetched: Fetched[T], skip: int, stop: int
    ) -> Iterator[tuple[int, Sequence[T]]]:
        """``(index of the first, items)`` from ``skip`` to ``stop``, structured a batch at a
        time with a model; one that does not fit is raised once those before it are out."""
        items = fetched.page.items
        model = self._model
        if model is None:
            yield skip, items if skip == 0 and stop == len(items) else items[skip:stop]
            return
        data = cast("list[Any]", items)  # a lazy walk's pages hold the JSON items
        for begin in range(skip, stop, _STRUCTURE_BATCH):
            chunk = data[begin : min(begin + _STRUCTURE_BATCH, stop)]
            batch, error = structure_prefix(chunk, model, fetched.request.url, begin)
            yield begin, batch
            if error is not None:
                raise error

    def _kept(
        self, fetched: Fetched[T], skip: int, dups: frozenset[int], reading: Reading[T]
    ) -> Iterator[T]:
        """The page's items from ``skip`` on but the repeated ones, structured one by one."""
        items = fetched.page.items
        model = self._model
        for index in range(skip, len(items)):
            if index in dups:
                reading.next_index = index + 1
                continue
            item = items[index]
            if model is not None:
                one, error = structure_prefix([item], model, fetched.request.url, index)
                if error is not None:
                    raise error
                item = one[0]
            reading.next_index = index + 1  # done once the consumer holds it, asked again or not
            yield item

    async def _walk(
        self,
        start: WalkPosition,
        item_budget: int | None,
        reading: Reading[T],
        *,
        lazy: bool = False,
    ) -> AsyncGenerator[tuple[Fetched[T], int, frozenset[int]], None]:
        """Yield ``(fetched page, items to skip, indexes of duplicates)``, in order.

        The steps are :class:`_walk.Walk`'s; this loop only runs them. With
        ``lazy``, the pages hold their JSON items, for the caller to structure.
        """
        # The walk's span (see _observe.Operation: not current in a generator).
        span = self._source.observer.walk(
            start.request.url if start.request else None, self._concurrency
        )

        def fetch(
            request: PageRequest, number: int, early: Early | None, turn: Turn | None
        ) -> Awaitable[Fetched[T]]:
            return self._fetch(request, number, span, early, turn, lazy=lazy)

        walk = Walk(
            fetch,
            start,
            item_budget=item_budget,
            concurrency=self._concurrency,
            max_pages=self._query.max_pages,
            registry=self._live,
            # Looked up when used: the tokens seen grow (a provider's first, a refresh).
            redact=lambda text: self._source.redactor.text(text),
        )
        failure: BaseException | None = None
        pages = 0
        try:
            while walk.more():
                fetched = await walk.take()
                dups = walk.account(fetched)
                if walk.schedule(fetched):
                    await asyncio.sleep(0)  # the requests just started get their turn to go out
                pages += 1  # handed out, however much of it the consumer then reads
                yield fetched, walk.skip, dups
                walk.advance(fetched)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            await walk.aclose()
            # This walk's own reading: a page cut short counts the items handed out.
            items = reading.position()[1] - start.yielded
            span.set({"accutics.pages": pages, "accutics.items": items})
            span.finish(failure)

    async def _fetch(
        self,
        request: PageRequest,
        number: int,
        span: Operation | None = None,
        early: Early | None = None,
        turn: Turn | None = None,
        *,
        lazy: bool = False,
    ) -> Fetched[T]:
        started = time.perf_counter()
        base_url = self._source.base_url
        read: list[tuple[Meta, PageRequest | None]] = []

        def on_meta(meta: Meta) -> bool:
            # Called with the meta alone: the next request can go out now.
            try:
                following = next_request(request, meta, base_url)
            except AccuticsError:
                return False  # raised below, from the decoded page, if it holds
            read.append((meta, following))
            return early is not None and early(request, meta, following)

        peek = None if early is None else on_meta
        send = self._source.request_page
        # ``turn`` only when there is one: a PageSource of its own may not know it.
        answer = (
            send(request.url, on_meta=peek)
            if turn is None
            else send(request.url, on_meta=peek, turn=turn)
        )
        if span is None:
            resp = await answer
        else:
            with span.within():  # the call's span is a child of the walk's
                resp = await answer
        page, ids, distinct = self._page(resp, request, number, lazy=lazy)
        # The wait for the consumer's turn is not the fetch's time.
        elapsed = time.perf_counter() - excluding_waits(started, turn)
        await self._source.observer.page(request.url, page.number, len(page.items), elapsed)
        if read and read[-1][0] == resp.meta:
            return Fetched(request, page, ids, distinct, read[-1][1])
        try:
            following = next_request(request, resp.meta, base_url)
        except AccuticsError as exc:
            # The message quotes the server's link, which could embed the token.
            self._source.redactor.exception(exc)
            return Fetched(request, page, ids, distinct, None, exc)
        return Fetched(request, page, ids, distinct, following)

    def _page(
        self, resp: Response, request: PageRequest, number: int, *, lazy: bool = False
    ) -> tuple[Page[T], Sequence[Any], set[Any]]:
        """The page ``resp`` holds (JSON items if ``lazy``), and its items' ids and their set."""
        data = resp.data
        if not isinstance(data, list):
            raise DecodeError(
                f"{request.url}: a listing's 'data' must be an array, got {type(data).__name__}",
                status=resp.status,
                kind="not_envelope",
            )
        pagination = resp.meta.pagination
        ids: Sequence[Any] = ()
        distinct: set[Any] = set()
        if isinstance(pagination, PageNumberPagination):
            self._total_items = pagination.total_items
            # Offset pages can repeat a record when data moves; ids let the
            # walk notice. Cursor pages cannot, so they skip the cost.
            ids = item_ids(data)
            distinct = id_set(ids)
        # Without a model the items are the JSON objects (T is dict[str, Any]).
        model = self._model
        try:
            if model is not None and lazy:
                structure_hook(model, request.url)  # a model it cannot structure is refused now
            items = (
                cast("list[T]", data)
                if model is None or lazy
                else structure_items(data, model, request.url)
            )
        except DecodeError as exc:
            # The message quotes the URL, which a user's params= could give the token.
            self._source.redactor.exception(exc)
            raise
        page = Page(items=items, meta=resp.meta, number=request.number or number, url=request.url)
        return page, ids, distinct
