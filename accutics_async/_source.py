"""What a pager needs of a client: :class:`PageSource` (``AccuticsClient`` is one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ._observe import Observer
from ._sansio.models import Meta, Response
from ._sansio.redact import Redactor

if TYPE_CHECKING:
    from ._fanout import Turn

__all__ = ["PageSource"]


class PageSource(Protocol):
    """What a pager needs of a client (:class:`AccuticsClient` is one).

    One request per page (telling the pager its ``meta`` before its data is
    decoded: see :meth:`AccuticsClient.request_page`), the base URL links
    must stay on, the client's concurrency budget, its observer, and the one
    redactor of every token it has seen.

    When ``on_meta`` returns true, the pager has just started requests and
    leaves their first event-loop turn to the source: ``request_page`` must
    yield once (``await asyncio.sleep(0)``) before it decodes on, or those
    requests wait until the consumer next awaits.
    """

    @property
    def base_url(self) -> str: ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def observer(self) -> Observer: ...

    @property
    def redactor(self) -> Redactor: ...

    async def request_page(
        self,
        url: str,
        *,
        on_meta: Callable[[Meta], bool] | None = None,
        turn: Turn | None = None,
    ) -> Response: ...
