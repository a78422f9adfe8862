"""Sharded export on a Dask cluster: one task per shard, merged here.

::

    from distributed import Client
    from accutics_async.export import export_on_dask

    dask_client = Client("tcp://scheduler:8786")
    result = await export_on_dask(dask_client, "/stream/records", "/shared/records.jsonl",
                                  shards=16, page_size=100, resume=True)

How it works, and why:

- **Same plan, other engine.** The shards are those of
  :func:`export_sharded` (``created_at`` ranges, planned by a task on a
  worker) and the plan is saved in the same ``OUT.shards.json``, so a
  resumed run reuses its boundaries, and ``discard_export`` cleans it up.
- **Tasks.** Each shard is one task (:func:`._dask_tasks.shard_task`) that
  writes ``OUT.shard-NNN-of-MMM`` with its own checkpoint beside ``OUT``:
  that directory must be on storage every worker reaches at the same path
  (a shared file system). A worker that dies mid-shard makes the scheduler
  run the task again elsewhere (up to ``distributed.scheduler.allowed-failures``
  times); it resumes from the checkpoint. A task that raises is run again up
  to ``retries`` times, resuming too.
- **The token stays on the workers.** Tasks read it from their own
  environment; nothing sent to the scheduler holds it, and this side needs
  none (planning runs on a worker too).
- **Progress.** Tasks send their counts to the scheduler's event log
  (``Worker.log_event``) under a topic of this run, at most 4 times a second;
  this side subscribes to it (``Client.subscribe_topic``) and adds them up.
- **A synchronous ``distributed.Client``** (the usual kind). Its futures
  are awaited without blocking this event loop: their done-callbacks (run in
  Dask's callback thread) hand the outcomes over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._sansio.protocol import Params
from .._sansio.query import Query
from .._sansio.search import Filter, Search
from .._threads import in_thread
from ..errors import AccuticsError, ConfigurationError, ExportError
from . import _dask_tasks
from ._destination import discard_export, refuse_if_busy, shard_files
from ._files import STDOUT, ExportPaths, check_destination, remove_quietly
from ._plan import ShardSpec
from ._shards import ShardPlan, Tally, any_committed, merge_plan, recorded_query, saved_plan
from ._types import ExportFormat, ExportProgress, ExportResult, ProgressCallback, resolve_format

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["export_on_dask"]

_FIELD = "created_at"


class _Outcomes:
    """The outcomes of Dask futures, delivered into the running event loop as they finish."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any, BaseException | None]] = asyncio.Queue()

    def watch(self, future: Any) -> None:
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:  # in Dask's callback thread
        try:
            value, error = future.result(), None
        except BaseException as exc:  # a task's error, KilledWorker, a cancelled future
            value, error = None, exc
        # RuntimeError: the loop is closed, nobody waits for the outcome any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (str(future.key), value, error))

    async def next(self) -> tuple[str, Any, BaseException | None]:
        return await self._queue.get()


def _translate(error: BaseException, what: str) -> BaseException:
    """A task's failure as the error to raise here: ours and OS errors as they are."""
    if isinstance(error, (AccuticsError, OSError)):
        return error
    from distributed import KilledWorker

    if isinstance(error, KilledWorker):
        return ExportError(
            f"{what}: every worker that ran it died ({error.allowed_failures + 1} times); "
            "its checkpoint is kept: resume to continue"
        )
    if isinstance(error, asyncio.CancelledError):  # distributed's FutureCancelledError
        return ExportError(f"{what} was cancelled on the Dask cluster; resume to continue")
    return ExportError(f"{what} failed on the Dask cluster: {type(error).__name__}: {error}")


async def _one(dask_client: Client, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one task and wait for its result without blocking the event loop."""
    outcomes = _Outcomes()
    future = dask_client.submit(func, *args, pure=False, **kwargs)
    outcomes.watch(future)
    _key, value, error = await outcomes.next()
    if error is not None:
        raise _translate(error, "planning the shards")
    return value


async def export_on_dask(
    dask_client: Client,
    path: str,
    out: str | os.PathLike[str],
    *,
    shards: int = 4,
    format: ExportFormat | str | None = None,
    search: Search | Filter | str | None = None,
    sort: str | Sequence[str] | None = None,
    page_size: int | None = None,
    params: Params | None = None,
    concurrency: int = 1,
    base_url: str | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    fsync: bool = True,
    checkpoint_every: float = 1.0,
    retries: int = 2,
) -> ExportResult:
    """Export in ``shards`` ``created_at`` ranges as tasks on a Dask cluster; merge into ``out``.

    ``dask_client`` is a synchronous ``distributed.Client``. Workers need
    ``accutics-async`` installed, the token in their environment
    (``ACCUTICS_TOKEN`` or ``ACCUTICS_TOKEN_FILE``) and ``out``'s directory
    at the same path (shared storage); ``base_url`` (else the workers'
    ``ACCUTICS_BASE_URL``) goes to them with each task. ``concurrency`` is
    each shard's fan-out (page-number endpoints), ``retries`` how often Dask
    runs a shard again after it raised. The merged file equals what
    :func:`export_sharded` writes; ``format`` defaults to the suffix of
    ``out`` as there, and the same ``out`` is refused before any task runs
    (standard output, a directory, a device, a FIFO or a socket).

    Returns an :class:`ExportResult`. Raises :class:`CheckpointExistsError`
    if an interrupted sharded export into ``out`` exists and ``resume`` is
    false; a shard's error as the task raised it (``APIError``,
    ``TransportError``, ...; ``ExportError`` if its workers kept dying), the
    other shards cancelled and every checkpoint kept for ``resume=True``;
    if that happens before any shard got a page, no file is left behind.
    """
    if getattr(dask_client, "asynchronous", False):
        raise ConfigurationError("export_on_dask needs a synchronous distributed.Client")
    if os.fspath(out) == STDOUT:
        raise ExportError(
            "a sharded export cannot go to standard output: its shards need files beside it",
            path=STDOUT,
        )
    # Absolute: the workers run in other directories.
    paths = ExportPaths.for_out(os.path.join(os.getcwd(), os.fspath(out)))
    check_destination(paths.out)
    format = resolve_format(paths.out, format)
    refuse_if_busy(paths, sharded=True)
    started = time.monotonic()
    query = recorded_query(
        Query.of(path, params=params, search=search, sort=sort, page_size=page_size), _FIELD
    )
    plan = saved_plan(paths, query, format, resume=resume)
    fresh = plan is None
    if plan is None:
        if not isinstance(shards, int) or shards < 1:
            raise ExportError(f"shards must be an int >= 1, got {shards!r}")
        plan_query = {
            "search": query["search"],
            "sort": query["sort"],
            "page_size": page_size,
            "params": query["params"],
            "format": format,
            "concurrency": concurrency,
            "field": _FIELD,
        }
        specs_data = await _one(
            dask_client,
            _dask_tasks.plan_task,
            path,
            shards,
            plan_query,
            out=paths.out,
            base_url=base_url,
            retries=retries,
        )
        specs = [ShardSpec.from_dict(data) for data in specs_data]
        remove_quietly(*shard_files(paths))  # leftovers of an earlier, abandoned plan
        plan = ShardPlan(specs, format, query, requested=shards)
        await in_thread(plan.save, paths.plan, fsync)
    tally = Tally(plan, progress, started)
    if not plan.merged:
        try:
            await _run(dask_client, plan, paths, tally, base_url, fsync, checkpoint_every, retries)
        except BaseException:
            if fresh and not plan.done and not any_committed(plan):
                discard_export(paths.out)  # failed before any shard got a page
            raise
    size = await in_thread(merge_plan, plan, paths, fsync)
    total = tally.total()
    return ExportResult(
        out=paths.out,
        format=plan.format,
        records=total.records,
        pages=total.pages,
        bytes=size,
        elapsed_s=time.monotonic() - started,
        resumed_records=total.resumed_records,
        total_items=total.total_items,
    )


def _progress_handler(
    loop: asyncio.AbstractEventLoop, tally: Tally, started: float
) -> Callable[[Any], None]:
    """A ``subscribe_topic`` handler (Dask's IO thread) feeding ``tally`` in ``loop``."""

    def on_event(event: Any) -> None:
        try:
            _when, msg = event
            index = msg["shard"]
            progress = ExportProgress(
                records=msg["records"],
                pages=msg["pages"],
                total_items=msg["total_items"],
                elapsed_s=time.monotonic() - started,
                resumed_records=msg["resumed_records"],
            )
        except (TypeError, ValueError, KeyError):  # not one of ours: ignore it
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the export is over
            loop.call_soon_threadsafe(tally.shard(index), progress)

    return on_event


async def _run(
    dask_client: Client,
    plan: ShardPlan,
    paths: ExportPaths,
    tally: Tally,
    base_url: str | None,
    fsync: bool,
    checkpoint_every: float,
    retries: int,
) -> None:
    client: Any = dask_client  # distributed's methods are untyped
    run_id = uuid.uuid4().hex[:12]
    topic = f"accutics-export-{run_id}"
    outcomes = _Outcomes()
    client.subscribe_topic(
        topic, _progress_handler(asyncio.get_running_loop(), tally, time.monotonic())
    )
    futures: dict[str, tuple[Any, ShardSpec]] = {}
    try:
        for spec in plan.specs:
            if str(spec.index) in plan.done:
                continue
            future = client.submit(
                _dask_tasks.shard_task,
                spec.to_dict(),
                base_url=base_url,
                topic=topic,
                fsync=fsync,
                checkpoint_every=checkpoint_every,
                key=f"accutics-shard-{spec.index + 1}-of-{spec.count}-{run_id}",
                retries=retries,
            )
            futures[str(future.key)] = (future, spec)
            outcomes.watch(future)
        while futures:
            key, value, error = await outcomes.next()
            _future, spec = futures.pop(key)
            if error is not None:
                raise _translate(error, f"shard {spec.index + 1} of {spec.count}")
            plan.done[str(spec.index)] = {
                "records": value["records"],
                "pages": value["pages"],
                "bytes": value["bytes"],
                "total_items": value["total_items"],
            }
            tally.shard(spec.index)(
                ExportProgress(
                    value["records"],
                    value["pages"],
                    value["total_items"],
                    0.0,
                    value["resumed_records"],
                )
            )
            # Saved as each shard ends: a finished shard must not run again on resume.
            await in_thread(plan.save, paths.plan, fsync)
    finally:
        client.unsubscribe_topic(topic)
        left = [future for future, _spec in futures.values()]
        if left:
            # Queued shards never start; running ones finish on their workers
            # (Dask cannot stop a running task) and a resume picks them up.
            await in_thread(client.cancel, left)
