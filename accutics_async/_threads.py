"""Blocking work (file writes, fsyncs, database commits) off the event loop, never half done."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

__all__ = ["in_thread"]

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: Any, executor: Executor | None = None) -> T:
    """Run ``func(*args)`` in ``executor`` (the loop's default), never abandoning it half done.

    A cancelled ``await`` would leave the thread writing while the caller
    closes the file under it; so on cancellation we wait for the write to
    end (the partial file and checkpoint then agree) and re-raise.
    """
    future = asyncio.get_running_loop().run_in_executor(executor, functools.partial(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not log it as lost
        raise
