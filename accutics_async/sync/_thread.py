"""One worker thread per sink: file and database writes never run on the event loop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._threads import in_thread

__all__ = ["Worker"]

T = TypeVar("T")


class Worker:
    """A single thread that runs a sink's calls in order.

    One thread, because a ``sqlite3`` connection belongs to the thread that
    opened it, and because the calls must not overlap. A cancelled ``await``
    does not abandon a call half done: it waits for the call to end (the
    transaction is then committed or rolled back, the file and its state
    agree) and re-raises the cancellation.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        return await in_thread(func, *args, executor=self._executor)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
