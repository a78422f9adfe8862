"""Shared fixtures of the unit tests: a fake clock for retries, aioresponses, a check of the
library's own structuring hooks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import aioresponses.core as aioresponses_core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses

from accutics_async import _retry
from accutics_async._sansio import converter, generated
from accutics_async._sansio.converter import CONVERTER


def _patch_aioresponses_for_new_aiohttp() -> None:
    # aioresponses 0.7.9 builds ClientResponse without the `stream_writer`
    # argument that aiohttp 3.14 made required; the response it builds is
    # already complete, so a writer reporting 0 bytes sent is all it needs.
    if "stream_writer" not in inspect.signature(ClientResponse.__init__).parameters:
        return

    class _SentStreamWriter:
        output_size = 0

    class _CompatClientResponse(ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _SentStreamWriter())
            super().__init__(method, url, **kwargs)

    aioresponses_core.ClientResponse = _CompatClientResponse  # type: ignore[misc]


_patch_aioresponses_for_new_aiohttp()


class FakeClock:
    """A clock that only moves when something sleeps, recording every sleep.

    Installed as the retry module's ``_sleep``/``_clock`` seams, so backoff
    and the 429 gate take no real time and their waits can be asserted.
    """

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []
        self._real_sleep = asyncio.sleep

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.now + seconds
        # Let every other ready task run (and reach its own sleep) before
        # time jumps, so concurrent requests see each other's pauses.
        for _ in range(20):
            await self._real_sleep(0)
        self.now = max(self.now, wake)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_retry, "_sleep", fake.sleep)
    monkeypatch.setattr(_retry, "_clock", fake)
    return fake


@pytest.fixture
def mock_http() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


FastHooks = Callable[[Any, Any, Any], None]


@pytest.fixture
def by_the_fast_hooks() -> FastHooks:
    """A check that ``model`` is structured by the library's own generated hooks (not
    cattrs'), item by item and per page, into ``expected``."""

    def check(model: Any, value: Any, expected: Any) -> None:
        assert generated.fast_attrs(model)
        item = CONVERTER.get_structure_hook(model)
        assert item.__code__.co_filename.startswith("<accutics_async structure")
        assert item(value, model) == expected
        page = converter.page_hook(model, item)
        assert page.__code__.co_filename.startswith("<accutics_async page")
        assert page([value, value]) == [expected, expected]

    return check
