"""``sync()``: one run of an incremental sync, from the saved state to the next.

The run itself is a short loop: open the sink (in its worker thread), work
out the window from the saved state, walk it (``_walk``), hand each page to
the sink together with the state that page leads to (one commit), and end
with a commit that closes the run. Every decision is in a pure function
here or in ``_walk``; the sinks only store.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Protocol

import attrs

from .._sansio.search import Filter, Search, to_wire
from ..errors import ConfigurationError, SyncError
from ..export._types import ExportProgress
from ._changelog import ChangeLog
from ._keys import Entry, check_key, instant, sink_kind, table_name, window_search
from ._sqlite import SqliteSink
from ._state import SyncState
from ._thread import Worker
from ._walk import Listing, walk

if TYPE_CHECKING:
    from .._client import AccuticsClient

__all__ = ["DEFAULT_LOOKBACK", "SyncResult", "sync"]

#: Seconds re-read before the stored watermark on every run. The search
#: language compares whole seconds (one is needed for that alone), and a
#: record can commit "late": stamped when its transaction began, visible
#: when it ended, or stamped by an API node whose clock runs behind. Five
#: minutes covers long transactions and ordinary clock skew, and costs an
#: idle run one small page (only what changed in the last five minutes).
DEFAULT_LOOKBACK = 300


class Sink(Protocol):
    """What ``sync`` needs of a sink; every call runs in the sink's worker thread."""

    kind: str

    def open(self) -> SyncState | None: ...
    def begin_full(self, state: SyncState) -> None: ...
    def prepare(self, lower: int | None, full: bool) -> None: ...
    def write(
        self, entries: Sequence[Entry], state: SyncState, mark_seen: bool
    ) -> tuple[int, int]: ...
    def finish(self, state: SyncState, delete_unseen: bool) -> int: ...
    def close(self) -> None: ...


@attrs.frozen
class SyncResult:
    """What one run did.

    ``upserted``: rows inserted or changed (SQLite) or versions appended
    (change log); ``unchanged``: records read again that were already
    stored at that version (the lookback window, mostly); ``deleted``: rows
    dropped by a ``full`` run. ``watermark`` is the largest ``key`` value
    synced so far, as the API wrote it. ``full`` says whether this run
    walked everything (asked for, or finishing an interrupted full run).
    """

    path: str
    into: str
    kind: str
    upserted: int
    unchanged: int
    deleted: int
    pages: int
    watermark: str | None
    full: bool
    duration_s: float

    @property
    def records(self) -> int:
        """Records read by this run (``upserted + unchanged``)."""
        return self.upserted + self.unchanged


def check_lookback(lookback: object) -> int:
    """``lookback`` as whole seconds (rounded up); ``ConfigurationError`` if it is not >= 0."""
    if isinstance(lookback, bool) or not isinstance(lookback, (int, float)):
        raise ConfigurationError(f"lookback must be a number of seconds, got {lookback!r}")
    if not math.isfinite(lookback) or lookback < 0:
        raise ConfigurationError(f"lookback must be >= 0 seconds, got {lookback!r}")
    return math.ceil(lookback)


def later_watermark(current: str | None, entries: Sequence[Entry]) -> str | None:
    """The larger of ``current`` and the entries' key values, compared as instants."""
    best, best_at = current, instant(current) if current is not None else None
    for entry in entries:
        at = instant(entry.key)
        if at is not None and (best_at is None or at > best_at):
            best, best_at = entry.key, at
    return best


@attrs.frozen
class Plan:
    """Where a run starts: the window's lower second, the restart floor, whether it is full."""

    lower: int | None
    floor: int | None
    full: bool
    fresh_full: bool


def plan_run(saved: SyncState | None, *, full: bool, lookback: int) -> Plan:
    """Decide the window of this run from the saved state (pure).

    A run after an interrupted full run finishes that one (so its deletions
    happen); ``full=True`` otherwise starts a walk of everything; a normal
    run starts ``lookback`` seconds before the saved restart point.
    """
    if saved is not None and saved.walking_full:
        lower = None if saved.restart is None else saved.restart - lookback
        return Plan(lower, saved.restart, full=True, fresh_full=False)
    if full:
        return Plan(None, None, full=True, fresh_full=True)
    if saved is None or saved.restart is None:
        return Plan(None, None, full=False, fresh_full=False)
    return Plan(saved.restart - lookback, saved.restart, full=False, fresh_full=False)


def check_fits(saved: SyncState, *, path: str, key: str, search: str | None, where: str) -> None:
    """``SyncError`` unless the saved state is for this listing, key and search."""
    if saved.key != key:
        raise SyncError(
            f"{where} was synced by key {saved.key!r}, not {key!r}; sync into another "
            "file or table",
            path=where,
        )
    if saved.path != path or saved.search != search:
        raise SyncError(
            f"{where} holds {saved.path} with search {saved.search!r}, not {path} with "
            f"search {search!r}; run a full sync (full=True, --full) to replace it, or "
            "sync into another file or table",
            path=where,
        )


def _sink(into: str, path: str, key: str, table: str | None, lookback: int, fsync: bool) -> Sink:
    if sink_kind(into) == "sqlite":
        return SqliteSink(into, table_name(path, table), key)
    if table is not None:
        raise ConfigurationError("table= applies to SQLite databases, not to a change log")
    return ChangeLog(into, key, lookback, fsync=fsync)


async def sync(
    client: AccuticsClient,
    path: str,
    into: str | os.PathLike[str],
    *,
    key: str = "updated_at",
    search: Search | Filter | str | None = None,
    lookback: float = DEFAULT_LOOKBACK,
    page_size: int | None = None,
    concurrency: int = 1,
    full: bool = False,
    table: str | None = None,
    progress: Callable[[ExportProgress], object] | None = None,
    fsync: bool = True,
) -> SyncResult:
    """Bring the copy of listing ``path`` in ``into`` up to date; return what changed.

    ``into`` ending in ``.sqlite``, ``.sqlite3`` or ``.db`` is a SQLite
    database (table ``table``, default the last segment of ``path``);
    ``.jsonl`` is a change log. Records come sorted by ``key`` then ``id``,
    from ``lookback`` seconds before the saved watermark on; ``search``
    narrows every run. ``full=True`` walks everything and, for SQLite,
    deletes rows whose ids the listing no longer has. ``progress`` gets an
    :class:`ExportProgress` after each page. ``concurrency`` is used where
    a page-number endpoint has to be walked by offset (a second holding
    more records than a page).

    Raises ``ConfigurationError`` for bad arguments, ``SyncError`` when the
    sink or its saved state does not fit (another key, search or file),
    and whatever the client raises for the requests. A run cut short at
    any point (an error, a cancellation, ``kill -9``) keeps every page it
    committed; the next run goes on from there.
    """
    started = time.monotonic()
    key = check_key(key)
    window = check_lookback(lookback)
    search_text = to_wire(search)
    target = os.fspath(into)
    path_text = os.fspath(path)
    # Every request of a walk sets search and sort: a path's query setting
    # them too would be refused mid-run, so it is refused before any.
    Listing(path_text, key, search_text, page_size).query(window_search(search_text, key, 0))
    sink = _sink(target, path_text, key, table, window, fsync)
    worker = Worker("accutics-sync")
    try:
        saved = await worker.run(sink.open)
        # One span over the run; its walks and calls are its children.
        attributes: dict[str, str | bool] = {
            "accutics.sync.sink": sink.kind,
            "accutics.sync.full": full,
        }
        try:
            with client.observer.operation("accutics.sync", attributes) as span:
                result = await _run(
                    client,
                    sink,
                    worker,
                    saved,
                    Listing(path_text, key, search_text, page_size, concurrency),
                    target=target,
                    full=full,
                    lookback=window,
                    progress=progress,
                    started=started,
                )
                span.set(
                    {
                        "accutics.records": result.upserted + result.unchanged,
                        "accutics.sync.upserted": result.upserted,
                        "accutics.pages": result.pages,
                    }
                )
                return result
        finally:
            await worker.run(sink.close)
    finally:
        worker.shutdown()


async def _run(
    client: AccuticsClient,
    sink: Sink,
    worker: Worker,
    saved: SyncState | None,
    listing: Listing,
    *,
    target: str,
    full: bool,
    lookback: int,
    progress: Callable[[ExportProgress], object] | None,
    started: float,
) -> SyncResult:
    plan = plan_run(saved, full=full, lookback=lookback)
    if saved is not None and not plan.fresh_full:
        check_fits(saved, path=listing.path, key=listing.key, search=listing.search, where=target)
    state = saved or SyncState(path=listing.path, search=listing.search, key=listing.key)
    if plan.fresh_full:
        # The new walk starts from nothing; the watermark stays what was synced.
        state = attrs.evolve(
            state,
            path=listing.path,
            search=listing.search,
            key=listing.key,
            restart=None,
            walking=True,
            walking_full=True,
        )
        await worker.run(sink.begin_full, state)
    await worker.run(sink.prepare, plan.lower, plan.full)
    tally = _Tally(started, progress)
    state = await _walk_into(
        client, sink, worker, listing, state, plan, plan.lower, plan.floor, tally
    )
    if plan.full and state.restart is not None:
        # A full run ends with the lookback window once more: a record
        # committed late behind the walk (or moved while it ran) is seen, so
        # it is not taken for deleted.
        window, floor = state.restart - lookback, state.restart
        state = await _walk_into(client, sink, worker, listing, state, plan, window, floor, tally)
    state = attrs.evolve(state, walking=False, walking_full=False, runs=state.runs + 1)
    deleted = await worker.run(sink.finish, state, plan.full)
    return SyncResult(
        path=listing.path,
        into=target,
        kind=sink.kind,
        upserted=tally.upserted,
        unchanged=tally.unchanged,
        deleted=deleted,
        pages=tally.pages,
        watermark=state.watermark,
        full=plan.full,
        duration_s=time.monotonic() - started,
    )


@attrs.define
class _Tally:
    """What a run has done so far, and the progress callback to tell."""

    started: float
    progress: Callable[[ExportProgress], object] | None
    upserted: int = 0
    unchanged: int = 0
    pages: int = 0
    total: int | None = None

    def add(self, written: int, same: int, total: int | None) -> None:
        self.pages += 1
        self.upserted += written
        self.unchanged += same
        self.total = total if self.total is None else self.total
        if self.progress is not None:
            done = self.upserted + self.unchanged
            elapsed = time.monotonic() - self.started
            self.progress(ExportProgress(done, self.pages, self.total, elapsed))


async def _walk_into(
    client: AccuticsClient,
    sink: Sink,
    worker: Worker,
    listing: Listing,
    state: SyncState,
    plan: Plan,
    lower: int | None,
    floor: int | None,
    tally: _Tally,
) -> SyncState:
    """Walk from ``lower`` on, committing each page with the state it leads to; return that."""
    async with aclosing(walk(client, listing, lower=lower, floor=floor)) as walked:
        async for page in walked:
            state = attrs.evolve(
                state,
                restart=page.restart,
                watermark=later_watermark(state.watermark, page.entries),
                walking=True,
                walking_full=plan.full,
            )
            written, same = await worker.run(sink.write, page.entries, state, plan.full)
            tally.add(written, same, page.total_items)
    return state
