"""Pages fetched ahead of the consumer, in order, with a bounded window.

Used by the pager's walk (``_walk.Walk``) for the concurrent fan-out of
page-number endpoints. It owns the tasks of the pages in flight; the walk
stops it the moment the walk stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

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
        plan: Iterable[PageRequest],
        width: int,
    ) -> None:
        self._fetch = fetch
        # Taken one by one (a plan may be huge: see PagePlan), one ahead so
        # `exhausted` knows whether another is coming.
        self._plan = iter(plan)
        self._upcoming = next(self._plan, None)
        self._width = width
        # The walk's count for a planned request that carries no page number.
        self._next_number = 0
        self._window: deque[asyncio.Task[R]] = deque()
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

    def stop(self) -> list[asyncio.Task[R]]:
        """Cancel the pages in flight and plan no more; return their tasks."""
        tasks = list(self._window)
        self._window.clear()
        self._plan, self._upcoming = iter(()), None
        for task in tasks:
            task.cancel()
        return tasks

    async def aclose(self) -> None:
        """Stop, and wait until the pages that were in flight are cancelled."""
        pending = [task for task in self.stop() if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
