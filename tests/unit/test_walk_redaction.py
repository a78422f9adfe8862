"""A walk's own messages are redacted with the tokens known when they are raised.

A token provider hands out its first token only with the first request, and a
refreshed one later: a redactor taken when the walk starts knows neither.
"""

from __future__ import annotations

from typing import Any

import pytest

from accutics_async import AsyncPager, PaginationError
from accutics_async._observe import Observer
from accutics_async._sansio.converter import structure_meta
from accutics_async._sansio.models import Response
from accutics_async._sansio.query import Query
from accutics_async._sansio.redact import Redactor

BASE = "https://api.example/v1"
SECRET = "tok-3f9a1c7e5b2d4a6f8e0c"


class LearningSource:
    """A ``PageSource`` that learns its token with the first request, as a provider does."""

    base_url = BASE
    max_concurrency = 8

    def __init__(self) -> None:
        self.redactor = Redactor(None)
        self.observer = Observer(None, redact=lambda text: self.redactor.text(text), base_url=BASE)
        self.requests = 0

    async def request_page(self, path: str, *, on_meta: Any = None, turn: Any = None) -> Response:
        self.requests += 1
        self.redactor = Redactor([SECRET])  # the token the provider just handed out
        # Cursor pages whose next link is the page itself: the loop guard's case.
        meta = structure_meta(
            {"endpoint": "records.index", "pagination": {"next_cursor": "c", "next": str(path)}}
        )
        return Response(200, {}, [{"id": self.requests}], meta, str(path))


async def test_the_loop_guard_redacts_a_token_learned_after_the_walk_began() -> None:
    source = LearningSource()
    pager: AsyncPager[Any] = AsyncPager(source, Query.of("records", params={"sig": SECRET}))
    with pytest.raises(PaginationError, match="pagination loop") as raised:
        async for _ in pager:
            pass
    assert SECRET not in str(raised.value)
    assert source.requests == 1
