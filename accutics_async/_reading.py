"""Where one iteration of a pager is: the page being handed out and the index of its next item.

Each ``async for`` over a pager (or ``pages()``, ``collect()``) is a walk of
its own, with its own :class:`Reading`: the pager's checkpoint reads the
latest one, and a walk's span counts what that walk's own reading handed out,
even while another iteration of the same pager runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import length_hint
from typing import Any, Generic, TypeVar

import attrs

from ._sansio.paging import WalkPosition
from ._walk import Fetched

__all__ = ["Reading"]

T = TypeVar("T")


class Reading(Generic[T]):
    """The page being handed out (``None`` until the first arrives) and the raw index of
    its next item.

    While a page without repeated records is handed out item by item, the
    index is not stored per item: ``iter`` is then the list iterator being
    read, and :meth:`position` derives the index from how much of it is left.
    """

    __slots__ = ("fetched", "iter", "iter_stop", "next_index", "yielded")

    def __init__(self, yielded: int) -> None:
        self.fetched: Fetched[T] | None = None
        self.next_index = 0
        #: Items handed out before ``fetched``'s item at ``next_index``, resumed ones included.
        self.yielded = yielded
        self.iter: Iterator[Any] | None = None
        self.iter_stop = 0

    def position(self) -> tuple[int, int]:
        """``(raw index of the next item of the page being read, items yielded so far)``."""
        it = self.iter
        if it is None:
            return self.next_index, self.yielded
        # A list iterator's length hint is exactly what is left of it, so the
        # index of the next item is known without a store per item. The item
        # just yielded has been taken from the iterator: it counts as done.
        index = self.iter_stop - length_hint(it)
        return index, self.yielded + (index - self.next_index)

    def walk_position(self, start: WalkPosition) -> WalkPosition:
        """Where a walk from ``start`` resumes: right after the last item handed out."""
        fetched = self.fetched
        index, yielded = self.position()
        if fetched is None:
            return attrs.evolve(start, yielded=yielded)
        served = getattr(fetched.page.meta.pagination, "items_per_page", None)
        served = served if isinstance(served, int) and served > 0 else None
        if index >= len(fetched.page.items) and fetched.next_error is None:
            return WalkPosition(fetched.next, 0, yielded, served)
        return WalkPosition(fetched.request, index, yielded, served)
