"""``export`` and ``export_pager``: one pager streamed into one file, resumably.

The file layer is in ``_files``; this module drives the pager, appends
each page to the partial file, and commits (fsync, then checkpoint) in a
worker thread at most every ``checkpoint_every`` seconds, and always when the
export stops for any reason. Committing per page would fsync twice for every
page and roughly halve throughput; a kill between commits only means the
pages since the last one are fetched again on resume, never written twice
(resume cuts the file back to the committed length).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._pagination import AsyncPager
from .._sansio.paging import finished_checkpoint
from .._sansio.protocol import Params, PathLike
from .._sansio.query import Query
from .._sansio.search import Filter, Search
from .._source import PageSource
from .._threads import in_thread
from ..errors import CheckpointExistsError, ExportError, PaginationError
from ._checkpoint import SavedState
from ._destination import check_out, refuse_if_busy
from ._files import STDOUT, ExportPaths, PartWriter, StreamWriter, read_state, remove_quietly
from ._formats import CsvEncoder, JsonlEncoder
from ._types import (
    ExportFormat,
    ExportProgress,
    ExportResult,
    ProgressCallback,
    resolve_format,
)

if TYPE_CHECKING:
    from .._client import AccuticsClient

__all__ = ["export", "export_pager", "export_query"]


def _refuse_existing(paths: ExportPaths) -> None:
    raise CheckpointExistsError(
        f"an interrupted export into {paths.out} exists ({paths.checkpoint}); pass "
        "resume=True to finish it, or discard_export() it to start over",
        path=paths.checkpoint,
    )


async def export(
    client: AccuticsClient,
    path: PathLike,
    out: str | os.PathLike[str],
    *,
    format: ExportFormat | str | None = None,
    search: Search | Filter | str | None = None,
    sort: str | Sequence[str] | None = None,
    page_size: int | None = None,
    params: Params | None = None,
    concurrency: int = 1,
    max_items: int | None = None,
    max_pages: int | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    fsync: bool = True,
    checkpoint_every: float = 1.0,
) -> ExportResult:
    """Export every item of ``client.paginate(path, ...)`` into the file ``out``.

    Returns an :class:`ExportResult`. ``format`` defaults to the suffix of
    ``out`` (``.csv`` is CSV, anything else JSON Lines). ``out`` is a
    regular file path, or ``"-"`` for standard output (streamed, not
    resumable). With ``resume=True`` an interrupted export into ``out`` is
    finished (or, if there is none, a new one starts). Raises, before any
    request, :class:`ExportError` for an ``out`` that is a directory,
    device, FIFO or socket, :class:`CheckpointExistsError` if an interrupted
    export exists and ``resume`` is false, and :class:`ExportError` if its
    checkpoint is for another query or format; then whatever the pager
    raises (``APIError``, ``TransportError``, ...) after the retries: the
    partial file and checkpoint stay for a later ``resume=True``, unless
    not a single page had come (then no file is left). OS errors (a full
    disk) are ``ExportError`` naming the file.
    """
    paths = check_out(out, resume=resume)
    format = resolve_format(paths.out, format)
    query = Query.of(
        path,
        params=params,
        search=search,
        sort=sort,
        page_size=page_size,
        max_items=max_items,
        max_pages=max_pages,
    )
    return await export_query(
        client,
        query,
        paths,
        format=format,
        concurrency=concurrency,
        resume=resume,
        progress=progress,
        fsync=fsync,
        checkpoint_every=checkpoint_every,
    )


async def export_query(
    client: PageSource,
    query: Query,
    paths: ExportPaths,
    *,
    format: str,
    concurrency: int,
    resume: bool,
    progress: ProgressCallback | None,
    fsync: bool,
    checkpoint_every: float,
) -> ExportResult:
    """:func:`export` of one :class:`Query` into ``paths.out``, whose format is known."""
    saved = None
    if paths.out != STDOUT:
        refuse_if_busy(paths, sharded=False)
        saved = read_state(paths)
    if saved is not None and not resume:
        _refuse_existing(paths)
    if saved is not None and saved.format != format:
        raise _wrong_format(paths, saved, format)
    if saved is not None:
        query = _what_is_left(query, saved)
    try:
        pager: AsyncPager[Any] = AsyncPager(
            client,
            query,
            concurrency=concurrency,
            resume=None if saved is None else saved.pager,
        )
    except PaginationError as exc:
        raise ExportError(
            f"{paths.checkpoint} belongs to another export (path, search, sort, page size or "
            "server differ); resume with the same arguments, or discard_export() it",
            path=paths.checkpoint,
        ) from exc
    return await _export_pager(
        pager,
        paths.out,
        format=format,
        resume=resume,
        progress=progress,
        fsync=fsync,
        checkpoint_every=checkpoint_every,
        query=query.recorded(),
    )


def _what_is_left(query: Query, saved: SavedState) -> Query:
    """``query`` with its limits less what the interrupted export wrote: they bound the export."""
    items = None if query.max_items is None else max(0, query.max_items - saved.records)
    pages = None if query.max_pages is None else max(0, query.max_pages - saved.pages)
    if pages == 0:  # a Query's max_pages is at least 1: nothing left is said by max_items
        items, pages = 0, None
    return attrs.evolve(query, max_items=items, max_pages=pages)


def _wrong_format(paths: ExportPaths, saved: SavedState, fmt: str) -> ExportError:
    return ExportError(
        f"{paths.checkpoint} is for a {saved.format} export, not {fmt}; "
        "resume with the same format",
        path=paths.checkpoint,
    )


async def export_pager(
    pager: AsyncPager[Any],
    out: str | os.PathLike[str],
    *,
    format: ExportFormat | str | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    fsync: bool = True,
    checkpoint_every: float = 1.0,
) -> ExportResult:
    """Stream ``pager``'s pages into ``out``; the pager is closed afterwards.

    To resume, build the pager from the saved checkpoint
    (``resume=read_checkpoint(out)["pager"]``) and pass ``resume=True``; a
    pager that does not continue that checkpoint raises :class:`ExportError`.
    ``checkpoint_every`` (seconds; 0 commits after every page) bounds how
    much work a hard kill can cost: the pages since the last commit are
    fetched again on resume. Otherwise as :func:`export`.
    """
    return await _export_pager(
        pager,
        out,
        format=format,
        resume=resume,
        progress=progress,
        fsync=fsync,
        checkpoint_every=checkpoint_every,
        query=None,
    )


async def _export_pager(
    pager: AsyncPager[Any],
    out: str | os.PathLike[str],
    *,
    format: ExportFormat | str | None,
    resume: bool,
    progress: ProgressCallback | None,
    fsync: bool,
    checkpoint_every: float,
    query: dict[str, Any] | None,
) -> ExportResult:
    if not checkpoint_every >= 0:
        raise ExportError(f"checkpoint_every must be >= 0 seconds, got {checkpoint_every!r}")
    try:
        paths = check_out(out, resume=resume)
    except BaseException:
        await pager.aclose()
        raise
    fmt = resolve_format(paths.out, format)
    saved = None
    if paths.out != STDOUT:
        refuse_if_busy(paths, sharded=False)
        saved = read_state(paths)
    if saved is not None:
        if not resume:
            _refuse_existing(paths)
        if saved.format != fmt:
            raise _wrong_format(paths, saved, fmt)
        if saved.pager != pager.checkpoint:
            raise ExportError(
                f"the pager does not continue {paths.checkpoint}; build it with "
                "client.paginate(..., resume=<the checkpoint's 'pager'>)"
            )
    # One span over the export; the walk and its calls are its children.
    with pager.source.observer.operation(
        "accutics.export", {"accutics.export.format": fmt}
    ) as span:
        try:
            result = await _run(pager, paths, fmt, saved, progress, fsync, checkpoint_every, query)
        finally:
            # Within the span: a walk an error left open ends before its parent.
            await pager.aclose()
        span.set({"accutics.records": result.records, "accutics.pages": result.pages})
        return result


async def _run(
    pager: AsyncPager[Any],
    paths: ExportPaths,
    fmt: str,
    saved: SavedState | None,
    progress: ProgressCallback | None,
    fsync: bool,
    checkpoint_every: float,
    query: dict[str, Any] | None,
) -> ExportResult:
    started = time.monotonic()
    state = saved or SavedState(format=fmt, pager=pager.checkpoint, offset=0, query=query)
    resumed = state.records
    if saved is not None:
        finished = _check_partial(paths, saved)
        if finished is not None:
            return attrs.evolve(finished, elapsed_s=time.monotonic() - started)
    encoder: JsonlEncoder | CsvEncoder = (
        JsonlEncoder() if fmt == "jsonl" else CsvEncoder(**state.encoder)
    )
    writer = _open_writer(paths, state, fsync)
    committed = state
    last_commit = time.monotonic()
    try:
        pages = pager.pages()
        async for page in pages:
            # Encoded and appended here: CPU-bound work in a second thread
            # contends with the event loop for the GIL, and an append is a
            # copy into the page cache. The fsyncs go to the thread. No turn
            # of the event loop is needed here for the next pages' requests:
            # the walk gave them theirs before it handed this page out.
            writer.append(encoder.encode(page.items))
            state = _after_page(state, pager, len(page.items), writer.offset, encoder)
            if time.monotonic() - last_commit >= checkpoint_every:
                await in_thread(writer.commit, state)
                committed, last_commit = state, time.monotonic()
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(
                    ExportProgress(state.records, state.pages, state.total_items, elapsed, resumed)
                )
        columns = encoder.columns if isinstance(encoder, CsvEncoder) else None
        # Every record wanted is written (a limit may have stopped the walk
        # short of its end): the checkpoint says so before the rename, so a
        # kill between the rename and the checkpoint's removal leaves a "done"
        # one, which a resume finishes (see PartWriter.finish).
        state = attrs.evolve(state, pager=finished_checkpoint(state.pager))
        if state != committed:
            await in_thread(writer.commit, state)
        # From here on the partial file may already be renamed; a failure
        # leaves the last commit to resume from, which is still exact.
        committed = state
        size = await in_thread(writer.finish, columns if encoder.needs_rewrite else None)
    except BaseException:
        _stopped(writer, fresh=saved is None, state=state, committed=committed)
        raise
    finally:
        writer.close()
    return ExportResult(
        out=paths.out,
        format=fmt,
        records=state.records,
        pages=state.pages,
        bytes=size,
        elapsed_s=time.monotonic() - started,
        resumed_records=resumed,
        total_items=state.total_items,
    )


def _open_writer(paths: ExportPaths, state: SavedState, fsync: bool) -> PartWriter | StreamWriter:
    # Opened here, not in a thread: it is quick, and a cancelled thread hand-off
    # could lose the open file.
    if paths.out == STDOUT:
        return StreamWriter(sys.stdout.buffer)
    return PartWriter(paths, offset=state.offset, fsync=fsync)


def _after_page(
    state: SavedState,
    pager: AsyncPager[Any],
    records: int,
    offset: int,
    encoder: JsonlEncoder | CsvEncoder,
) -> SavedState:
    """``state`` once a page of ``records`` is appended (the pager's checkpoint read now).

    Read right after the page is handed out: that is where it counts as done.
    """
    total = pager.total_items
    return attrs.evolve(
        state,
        pager=pager.checkpoint,
        offset=offset,
        records=state.records + records,
        pages=state.pages + 1,
        total_items=state.total_items if total is None else total,
        encoder=encoder.state(),
    )


def _stopped(
    writer: PartWriter | StreamWriter, *, fresh: bool, state: SavedState, committed: SavedState
) -> None:
    """What an export that stopped early leaves behind: a resumable state, or nothing."""
    if fresh and state.pages == 0:
        # Not a single page came (a 401, a 404, no connection): nothing
        # to resume, so nothing is left behind.
        writer.discard()
    elif state is not committed:
        # Stopped for any reason (an error, Ctrl-C, a cancelled task):
        # keep every page written so far. Synchronous on purpose: the
        # task may be cancelled, and this must not be interrupted. If
        # even that fails (a full disk), the last commit still stands
        # and the first error is the one to report.
        with contextlib.suppress(ExportError):
            writer.commit(state)


def _check_partial(paths: ExportPaths, saved: SavedState) -> ExportResult | None:
    """Check the files a checkpoint expects; return the result if the export had finished.

    A "done" checkpoint without a partial file but with the destination is a
    crash after the final rename and before the checkpoint was removed.
    """
    if os.path.lexists(paths.part):
        return None
    if not (saved.done and os.path.exists(paths.out)):
        raise ExportError(
            f"{paths.part} is missing but {paths.checkpoint} expects it; discard the "
            "checkpoint and start over"
        )
    remove_quietly(paths.checkpoint)
    return ExportResult(
        out=paths.out,
        format=saved.format,
        records=saved.records,
        pages=saved.pages,
        bytes=os.path.getsize(paths.out),
        elapsed_s=0.0,
        resumed_records=saved.records,
        total_items=saved.total_items,
    )
