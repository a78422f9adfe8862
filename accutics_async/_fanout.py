"""Pages fetched ahead of the consumer, in order, with a bounded window.

Used by the pager's walk (``_walk.Walk``) for the concurrent fan-out of page-number endpoints
and for the one-page read-ahead of sequential walks. It owns the tasks of
the pages in flight and cancels them the moment the walk stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from ._sansio.paging import PageRequest

__all__ = ["FanOut"]

R = TypeVar("R")


class FanOut(Generic[R]):
    """Planned pages fetched with up to ``width`` in flight, handed out in order.

    At most ``width`` pages are in flight or waiting, and none is started
    until the consumer has taken the one before the window, so a stalled
    consumer stalls the fetching too.
    """

    def __init__(
        self,
        fetch: Callable[[PageRequest, int], Awaitable[R]],
        registry: set[FanOut[Any]],
        plan: Iterable[PageRequest],
        width: int,
        *,
        first_number: int = 0,
    ) -> None:
        self._fetch = fetch
        # The pager's set of live fan-outs, so its aclose() can stop them.
        self._registry = registry
        # Taken one by one (a plan may be huge: see PagePlan), one ahead so
        # `exhausted` knows whether another is coming.
        self._plan = iter(plan)
        self._upcoming = next(self._plan, None)
        self._width = width
        # The walk's count for a planned request that carries no page number.
        self._next_number = first_number
        self._window: deque[asyncio.Task[R]] = deque()
        # The task reading the walk. If it is cancelled while it holds an item
        # (`async for` does not close its iterator then, and a traceback may
        # keep the iterator alive), the pages in flight are cancelled at once,
        # not when the garbage collector finally finds the generators. A walk
        # that another task goes on with then fetches them itself.
        self._owner = asyncio.current_task()
        if self._owner is not None:
            self._owner.add_done_callback(self._owner_done)
        registry.add(self)
        self._fill()

    @property
    def exhausted(self) -> bool:
        return self._upcoming is None and not self._window

    def _fill(self) -> None:
        while len(self._window) < self._width and self._upcoming is not None:
            request, self._upcoming = self._upcoming, next(self._plan, None)
            number = request.number if request.number is not None else self._next_number
            self._next_number += 1
            self._window.append(asyncio.ensure_future(self._fetch(request, number)))

    async def next(self) -> R | None:
        """The next planned page, or ``None`` when the plan is done."""
        if not self._window:
            return None
        task = self._window.popleft()
        fetched = await task
        self._fill()
        return fetched

    def _owner_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._stop()

    def _stop(self) -> list[asyncio.Task[R]]:
        """Cancel the pages in flight and plan no more; return their tasks."""
        self._registry.discard(self)
        tasks = list(self._window)
        self._window.clear()
        self._plan, self._upcoming = iter(()), None
        for task in tasks:
            task.cancel()
            # So a page that failed while nobody waited for it does not log
            # "Task exception was never retrieved".
            task.add_done_callback(_retrieve)
        return tasks

    async def aclose(self) -> None:
        if self._owner is not None:
            self._owner.remove_done_callback(self._owner_done)
        # Awaited only when something is still running: an aclose that does
        # not suspend cannot overlap the event loop's own finalisation of
        # the same generators.
        pending = [task for task in self._stop() if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
