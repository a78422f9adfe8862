"""Sharded export: run ``created_at`` shards of one query at once, then merge them.

A cursor endpoint can only be walked one page after another; several
disjoint searches can be walked side by side. Each shard is a plain
:class:`ShardSpec` (JSON round trip with ``to_dict``/``from_dict``) exported
by :func:`export_shard` into its own file with its own checkpoint, so shards
can also be handed to any task runner.

The shard plan of :func:`export_sharded` is saved in ``OUT.shards.json``
(specs, which shards are done, whether the merge happened), so a resumed run
reuses the same boundaries even if records were added meanwhile. The plan
is trusted only for what it may say: the shard files are always derived
from ``OUT`` and the shard's place (never read from the plan), and a plan
whose shards do not fit that, or the command's own query, is refused.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._safe_files import open_trusted
from .._sansio.protocol import Params
from .._sansio.query import Query
from .._sansio.search import Filter, Search
from .._threads import in_thread
from ..errors import CheckpointExistsError, ExportError
from ._checkpoint import is_count
from ._destination import check_out, discard_export, refuse_if_busy, shard_files
from ._files import (
    STDOUT,
    ExportPaths,
    check_destination,
    merge_files,
    read_json,
    remove_quietly,
    write_json_atomic,
)
from ._plan import ShardSpec, check_shard_sort, plan_shards
from ._single import export_query
from ._types import ExportFormat, ExportProgress, ExportResult, ProgressCallback, resolve_format

if TYPE_CHECKING:
    from .._client import AccuticsClient

__all__ = [
    "ShardPlan",
    "Tally",
    "any_committed",
    "export_shard",
    "export_sharded",
    "merge_plan",
    "merge_shards",
    "recorded_query",
    "saved_plan",
]

PLAN_KIND = "accutics_async.shards"
PLAN_VERSION = 1


async def export_shard(
    client: AccuticsClient,
    spec: ShardSpec,
    *,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    fsync: bool = True,
    checkpoint_every: float = 1.0,
) -> ExportResult:
    """Export one shard into ``spec.out``, with its own checkpoint.

    ``resume`` defaults to true, so a task runner that retries a failed
    shard finishes it instead of starting over. Raises as :func:`export`.
    """
    paths = check_out(spec.out, resume=resume)
    return await export_query(
        client,
        spec.query,
        paths,
        format=resolve_format(paths.out, spec.format),
        concurrency=spec.concurrency,
        resume=resume,
        progress=progress,
        fsync=fsync,
        checkpoint_every=checkpoint_every,
    )


@attrs.define
class ShardPlan:
    """A sharded export's ``OUT.shards.json``: its shards, which are done, whether merged."""

    specs: list[ShardSpec]
    format: str
    query: dict[str, Any]  # what was asked for, so a resume for another query is refused
    done: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    merged: bool = False
    requested: int | None = None  # shards asked for (fewer may exist); for the CLI's checks

    def save(self, path: str, fsync: bool) -> None:
        data = {
            "kind": PLAN_KIND,
            "version": PLAN_VERSION,
            "format": self.format,
            "query": self.query,
            "shards": [spec.to_dict() for spec in self.specs],
            "done": self.done,
            "merged": self.merged,
            "requested_shards": self.requested,
        }
        write_json_atomic(path, data, fsync=fsync)

    @classmethod
    def load(cls, paths: ExportPaths) -> ShardPlan | None:
        """The plan saved beside ``paths.out``, or ``None``; ``ExportError`` if it does not fit."""
        path = paths.plan
        data = read_json(path)
        if data is None:
            return None
        if not isinstance(data, dict) or data.get("kind") != PLAN_KIND:
            raise ExportError(f"{path} is not an accutics shard plan")
        if data.get("version") != PLAN_VERSION:
            raise ExportError(f"{path}: unsupported shard plan version {data.get('version')!r}")
        shards, done, query = data.get("shards"), data.get("done"), data.get("query")
        if not (isinstance(shards, list) and isinstance(done, dict) and isinstance(query, dict)):
            raise ExportError(f"{path} is malformed; remove it to start over")
        specs = [ShardSpec.from_dict(s) if isinstance(s, dict) else s for s in shards]
        for index, spec in enumerate(specs):
            # A shard's file is where this export puts it, nothing else: a plan
            # naming another file (to be merged, handed back or deleted) is refused.
            if not _is_planned(spec, index, specs, paths, query, data.get("format")):
                raise ExportError(f"{path}: shard {index + 1} is not one this export planned")
        if not specs or not _is_done_table(done, len(specs)):
            raise ExportError(f"{path} is malformed; remove it to start over")
        requested = data.get("requested_shards")
        return cls(
            specs,
            str(data.get("format")),
            query,
            done,
            data.get("merged") is True,
            requested if isinstance(requested, int) else None,
        )


def _is_planned(
    spec: Any,
    index: int,
    specs: list[Any],
    paths: ExportPaths,
    query: dict[str, Any],
    fmt: Any,
) -> bool:
    """Whether ``spec`` is shard ``index`` of this export: its place, its file, its query."""
    return (
        isinstance(spec, ShardSpec)
        and spec.index == index
        and spec.count == len(specs)
        # As paths: a plan that export_on_dask saved holds absolute ones,
        # and the CLI's checks may load it with the user's relative OUT.
        and os.path.abspath(spec.out) == os.path.abspath(paths.shard(index, len(specs)))
        and spec.path == query.get("path")
        and spec.format == fmt
    )


def _is_done_table(done: dict[Any, Any], count: int) -> bool:
    """Whether ``done`` maps shard indexes (as text) to their record and page counts."""
    indexes = {str(i) for i in range(count)}
    return all(
        key in indexes
        and isinstance(entry, dict)
        and all(is_count(entry.get(name)) for name in ("records", "pages"))
        for key, entry in done.items()
    )


class Tally:
    """Adds the shards' progress up for one ``progress`` callback."""

    def __init__(self, plan: ShardPlan, callback: ProgressCallback | None, started: float) -> None:
        self._callback = callback
        self._started = started
        self._indexes = [spec.index for spec in plan.specs]
        self._latest: dict[int, ExportProgress] = {}
        self._done = plan.done  # shared: shards finished in this run are added to it

    def shard(self, index: int) -> ProgressCallback:
        def report(progress: ExportProgress) -> None:
            self._latest[index] = progress
            if self._callback is not None:
                self._callback(self.total())

        return report

    def total(self) -> ExportProgress:
        records = pages = resumed = 0
        totals: list[int | None] = []
        for index in self._indexes:
            latest, done = self._latest.get(index), self._done.get(str(index))
            if latest is not None:
                records, pages = records + latest.records, pages + latest.pages
                resumed += latest.resumed_records
                totals.append(latest.total_items)
            elif done is not None:  # finished by an earlier run
                records, pages = records + done["records"], pages + done["pages"]
                resumed += done["records"]
                totals.append(done.get("total_items"))
            else:
                totals.append(None)
        known = [t for t in totals if t is not None]
        return ExportProgress(
            records=records,
            pages=pages,
            total_items=sum(known) if len(known) == len(totals) else None,
            elapsed_s=time.monotonic() - self._started,
            resumed_records=resumed,
        )


def recorded_query(query: Query, field: str) -> dict[str, Any]:
    """What a shard plan records of its export, so a resume for another one is refused."""
    return {**query.recorded(), "field": field}


def saved_plan(
    paths: ExportPaths, query: dict[str, Any], format: str, *, resume: bool
) -> ShardPlan | None:
    """The interrupted export's plan to go on with, or ``None`` to start afresh.

    Raises ``CheckpointExistsError`` for a plan without ``resume``, and
    ``ExportError`` for one of another format or query.
    """
    plan = ShardPlan.load(paths)
    if plan is None:
        return None
    if not resume:
        raise CheckpointExistsError(
            f"an interrupted sharded export into {paths.out} exists ({paths.plan}); pass "
            "resume=True to finish it, or discard_export() it to start over",
            path=paths.plan,
        )
    if plan.format != format:
        raise ExportError(
            f"{paths.plan} is for a {plan.format} export, not {format}", path=paths.plan
        )
    if plan.query != query:
        raise ExportError(
            f"{paths.plan} belongs to another export (path, search, sort, page size or "
            "parameters differ); resume with the same arguments, or discard_export() it",
            path=paths.plan,
        )
    return plan


async def export_sharded(
    client: AccuticsClient,
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
    field: str = "created_at",
    resume: bool = False,
    progress: ProgressCallback | None = None,
    fsync: bool = True,
    checkpoint_every: float = 1.0,
) -> ExportResult:
    """Export in ``shards`` concurrent ``field`` ranges, then merge them into ``out`` atomically.

    The shards share ``client``, so its ``max_concurrency`` bounds the
    requests in flight; ``concurrency`` is each shard pager's fan-out
    (page-number endpoints only). The merged file equals what :func:`export`
    writes for the same query sorted by ``field``. Raises
    :class:`CheckpointExistsError` if an interrupted sharded export into
    ``out`` exists and ``resume`` is false; if a shard fails the others are
    cancelled (keeping their checkpoints) and its error is raised. If that
    happens before any shard got a page, no file is left behind.

    ``format`` defaults to the suffix of ``out``. Before any request,
    :class:`ExportError` is raised for an ``out`` that is not a regular file
    path (standard output included: shards need files beside ``out``) and
    for a ``sort`` whose first key is not ``field`` (see
    :func:`check_shard_sort`).
    """
    paths = ExportPaths.for_out(out)
    if paths.out == STDOUT:
        raise ExportError(
            "a sharded export cannot go to standard output: its shards need files beside it",
            path=STDOUT,
        )
    check_destination(paths.out)
    format = resolve_format(paths.out, format)
    check_shard_sort(sort, field)
    refuse_if_busy(paths, sharded=True)
    started = time.monotonic()
    query = Query.of(path, params=params, search=search, sort=sort, page_size=page_size)
    recorded = recorded_query(query, field)
    plan = saved_plan(paths, recorded, format, resume=resume)
    fresh = plan is None
    if plan is None:
        specs = await plan_shards(
            client,
            query,
            shards,
            out=paths.out,
            format=format,
            concurrency=concurrency,
            field=field,
        )
        remove_quietly(*shard_files(paths))  # leftovers of an earlier, abandoned plan
        plan = ShardPlan(specs, format, recorded, requested=shards)
        await in_thread(plan.save, paths.plan, fsync)
    tally = Tally(plan, progress, started)
    if not plan.merged:
        try:
            await _run_shards(client, plan, paths, tally, fsync, checkpoint_every)
        except BaseException:
            if fresh and not plan.done and not any_committed(plan):
                discard_export(paths.out)  # failed before any shard got a page
            raise
    size = await in_thread(merge_plan, plan, paths, fsync)
    total = tally.total()
    return ExportResult(
        out=paths.out,
        format=format,
        records=total.records,
        pages=total.pages,
        bytes=size,
        elapsed_s=time.monotonic() - started,
        resumed_records=total.resumed_records,
        total_items=total.total_items,
    )


def any_committed(plan: ShardPlan) -> bool:
    """Whether any shard of ``plan`` has committed a checkpoint (got a page)."""
    return any(os.path.exists(ExportPaths.for_out(s.out).checkpoint) for s in plan.specs)


def merge_shards(
    specs: Sequence[ShardSpec], out: str | os.PathLike[str], *, fsync: bool = True
) -> int:
    """Merge finished shard files (:func:`export_shard`) into ``out`` atomically.

    The shards go in ``spec.index`` order; their files are removed once the
    merged file is in place. Returns its size in bytes. For shards run by a
    task runner; :func:`export_sharded` merges on its own. Raises
    ``ExportError`` if a shard has not finished, ``OSError`` for file errors.
    """
    ordered = sorted(specs, key=lambda spec: spec.index)
    formats = {spec.format for spec in ordered}
    if len(formats) > 1:
        raise ExportError(f"cannot merge shards of different formats: {sorted(formats)}")
    for spec in ordered:
        if not os.path.exists(spec.out) or os.path.exists(spec.out + ".checkpoint.json"):
            raise ExportError(
                f"shard {spec.index + 1} of {spec.count} ({spec.out}) is not finished"
            )
    paths = ExportPaths.for_out(out)
    fmt = formats.pop() if formats else "jsonl"
    size = merge_files([s.out for s in ordered], paths.out, paths.part, fmt, fsync=fsync)
    remove_quietly(*(spec.out for spec in ordered))
    return size


def merge_plan(plan: ShardPlan, paths: ExportPaths, fsync: bool) -> int:
    """Merge the shard files into the destination (unless done), then clean up; return its size.

    The plan is marked merged before the shard files go, so a crash in
    between finishes the clean-up on resume instead of merging missing files.
    """
    if not plan.merged:
        sources = [spec.out for spec in sorted(plan.specs, key=lambda s: s.index)]
        merge_files(sources, paths.out, paths.part, plan.format, fsync=fsync)
        plan.merged = True
        plan.save(paths.plan, fsync)
    else:  # merged by an earlier run: what is there must be the user's own file
        fd = open_trusted(paths.out, write=False, private=False)
        if fd is None:
            raise ExportError(f"{paths.plan} says the shards were merged; {paths.out} is missing")
        os.close(fd)
    remove_quietly(*(spec.out for spec in plan.specs))
    remove_quietly(paths.plan)
    return os.path.getsize(paths.out)


async def _run_shards(
    client: AccuticsClient,
    plan: ShardPlan,
    paths: ExportPaths,
    tally: Tally,
    fsync: bool,
    checkpoint_every: float,
) -> None:
    tasks: dict[asyncio.Future[ExportResult], ShardSpec] = {
        asyncio.ensure_future(
            export_shard(
                client,
                spec,
                resume=True,
                progress=tally.shard(spec.index),
                fsync=fsync,
                checkpoint_every=checkpoint_every,
            )
        ): spec
        for spec in plan.specs
        if str(spec.index) not in plan.done
    }
    pending = set(tasks)
    try:
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failure: BaseException | None = None
            for task in finished:
                if task.exception() is not None:
                    failure = failure or task.exception()
                    continue
                result = task.result()
                plan.done[str(tasks[task].index)] = {
                    "records": result.records,
                    "pages": result.pages,
                    "bytes": result.bytes,
                    "total_items": result.total_items,
                }
            # Saved before raising: a shard finished here must not run again on resume.
            await in_thread(plan.save, paths.plan, fsync)
            if failure is not None:
                raise failure
    finally:
        for task in pending:
            task.cancel()
        # Each cancelled shard closes its file with a consistent checkpoint.
        await asyncio.gather(*tasks, return_exceptions=True)
