"""Pages fetched ahead of the consumer, in order, with a bounded window.

Used by the pager's walk (``_walk.Walk``) for the concurrent fan-out of
page-number endpoints. It owns the tasks of the pages in flight; the walk
stops it the moment the walk stops.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from ._sansio.paging import PageRequest

__all__ = ["FanOut", "Turn", "excluding_waits"]

R = TypeVar("R")


class Turn:
    """A planned page's place in line: its answer is decoded only once it is next in line.

    The fetch waits for its turn after the answer's bytes are in and before
    its ``data`` is decoded. The page right after the one the consumer holds
    has its turn at once, so it is decoded as it lands and is usually ready
    when the consumer asks; the pages behind it wait as bytes. A window of
    decoded pages would hold several times more memory, and give the cyclic
    garbage collector its containers to traverse at every collection (on
    nested records, a sixth of a ``concurrency=8`` walk's CPU). Even where
    the collector tracks none of them (JSON objects of plain values), pages
    decoded a window ahead are read and freed long after, from memory gone
    cold: on 26-field flat records at ``concurrency=8``, decoding the whole
    window as it landed took about 12% more of the client's time than one
    page ahead (six decoded pages alive at a time instead of two).
    """

    __slots__ = ("_asked", "waited")

    def __init__(self) -> None:
        self._asked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Seconds spent waiting, which no request duration should count.
        self.waited = 0.0

    def give(self) -> None:
        """This page is next in line (or asked for): its fetch may decode it now."""
        if not self._asked.done():
            self._asked.set_result(None)

    async def wait(self) -> float:
        """Wait for the turn; the seconds this call waited (0 once given)."""
        if self._asked.done():
            return 0.0
        since = time.perf_counter()
        await self._asked
        waited = time.perf_counter() - since
        self.waited += waited
        return waited


def excluding_waits(started: float, turn: Turn | None, waited_before: float = 0.0) -> float:
    """``started`` moved on by what ``turn`` has waited since it read ``waited_before``.

    A duration measured from the result leaves out the consumer's time.
    """
    return started if turn is None else started + (turn.waited - waited_before)


class FanOut(Generic[R]):
    """Planned pages fetched with up to ``width`` in flight, handed out in order.

    At most ``width`` pages are in flight or waiting, and none is started
    until the consumer has taken the one before the window, so a stalled
    consumer stalls the fetching too.
    """

    def __init__(
        self,
        fetch: Callable[[PageRequest, int, Turn], Awaitable[R]],
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
        self._window: deque[tuple[asyncio.Task[R], Turn]] = deque()
        self._unsent = False
        self._fill()

    @property
    def exhausted(self) -> bool:
        return self._upcoming is None and not self._window

    def _fill(self) -> None:
        while len(self._window) < self._width and self._upcoming is not None:
            request, self._upcoming = self._upcoming, next(self._plan, None)
            number = request.number if request.number is not None else self._next_number
            self._next_number += 1
            turn = Turn()
            self._window.append((asyncio.ensure_future(self._fetch(request, number, turn)), turn))
            self._unsent = True
        self._give_next()

    def _give_next(self) -> None:
        """The page next in line (the consumer holds the one before) is decoded as it lands."""
        if self._window:
            self._window[0][1].give()

    def take_unsent(self) -> bool:
        """Whether pages were started since the last call (which resets it).

        A started page's request goes out only once its task runs, in a
        later turn of the event loop: the walk gives it that turn before it
        hands a page out, for a consumer that does not await between pages.
        """
        unsent, self._unsent = self._unsent, False
        return unsent

    async def next(self) -> R | None:
        """The next planned page, or ``None`` when the plan is done."""
        if not self._window:
            return None
        task, _ = self._window.popleft()  # its turn was given when it came next in line
        self._give_next()
        fetched = await task
        self._fill()
        return fetched

    def stop(self) -> list[asyncio.Task[R]]:
        """Cancel the pages in flight and plan no more; return their tasks."""
        tasks = [task for task, _ in self._window]
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
