"""What runs on a Dask worker: planning the shards and exporting one shard.

Plain functions of plain arguments (no ``distributed`` import here), so
they pickle by reference and can be called without a cluster too. The token
is read here, from the worker's own environment (``ACCUTICS_TOKEN``, or the
file ``ACCUTICS_TOKEN_FILE`` names): it is never an argument, so it never
reaches the scheduler, its task state or its logs. Arguments and results
are counts, paths and query strings only.

Each task runs ``asyncio.run`` in the worker's task thread, with its own
:class:`AccuticsClient`, so a worker's event loop (heartbeats, transfers)
never waits on the API.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from .._client import AccuticsClient
from ..errors import ConfigurationError
from ._formats import csv_rows
from ._plan import ShardSpec, plan_created_at_shards
from ._shards import export_shard
from ._types import ExportProgress, ExportResult

if sys.platform != "win32":
    import fcntl

__all__ = ["TOKEN_FILE_ENV", "plan_task", "shard_task", "wait_until_unlocked", "worker_token"]

TOKEN_FILE_ENV = "ACCUTICS_TOKEN_FILE"
#: Progress events per shard are sent at most this often (seconds): each one
#: is a message to the scheduler, which keeps a bounded log of them.
PROGRESS_EVERY = 0.25
#: How long a task waits for an earlier run of the same shard to let go of its file.
LOCK_WAIT = 600.0
_MAX_TOKEN_FILE = 64 * 1024


def worker_token() -> str | None:
    """The token from this process's environment; ``None`` means "``ACCUTICS_TOKEN``".

    Raises ``ConfigurationError`` (naming no value) when neither variable
    gives one.
    """
    if os.environ.get("ACCUTICS_TOKEN", "").strip():
        return None  # AccuticsClient reads it itself
    path = os.environ.get(TOKEN_FILE_ENV, "")
    if not path:
        raise ConfigurationError(
            "no API token on this Dask worker: set ACCUTICS_TOKEN or "
            f"{TOKEN_FILE_ENV} in the worker's environment"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read(_MAX_TOKEN_FILE).strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {TOKEN_FILE_ENV} ({path}): {exc.strerror}") from None
    except UnicodeDecodeError:  # its message would quote bytes of the file
        raise ConfigurationError(f"{TOKEN_FILE_ENV} ({path}) is not UTF-8 text") from None
    if not token:
        raise ConfigurationError(f"{TOKEN_FILE_ENV} ({path}) is empty")
    return token


def _client(base_url: str | None, max_concurrency: int) -> AccuticsClient:
    return AccuticsClient(
        worker_token(), base_url=base_url, max_concurrency=max(1, max_concurrency)
    )


def plan_task(
    path: str,
    shards: int,
    query: dict[str, Any],
    *,
    out: str,
    base_url: str | None,
) -> list[dict[str, Any]]:
    """:func:`plan_created_at_shards` on a worker (two requests); the specs as dicts."""

    async def plan() -> list[dict[str, Any]]:
        async with _client(base_url, 1) as client:
            specs = await plan_created_at_shards(client, path, shards, out=out, **query)
        return [spec.to_dict() for spec in specs]

    return asyncio.run(plan())


class _Reporter:
    """Sends a shard's progress to the scheduler's event log under ``topic``, throttled."""

    def __init__(self, topic: str, index: int) -> None:
        self._topic, self._index = topic, index
        self._last = float("-inf")
        try:
            from distributed import get_worker

            self._worker: Any = get_worker()
        except (ImportError, ValueError):  # called outside a Dask task: nowhere to report
            self._worker = None

    def __call__(self, progress: ExportProgress) -> None:
        now = time.monotonic()
        if self._worker is None or now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        self._worker.log_event(
            self._topic,
            {
                "shard": self._index,
                "records": progress.records,
                "pages": progress.pages,
                "total_items": progress.total_items,
                "resumed_records": progress.resumed_records,
            },
        )


def _result(result: ExportResult) -> dict[str, Any]:
    return {
        "records": result.records,
        "pages": result.pages,
        "bytes": result.bytes,
        "total_items": result.total_items,
        "resumed_records": result.resumed_records,
    }


def _count_records(path: str, fmt: str) -> int:
    if fmt != "jsonl":
        # Read as the merge reads it: csv.reader refuses a field over 128 KiB.
        return csv_rows(path)
    with open(path, "rb") as handle:  # one record per line; JSON text holds no raw newline
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def finished_shard(spec: ShardSpec) -> dict[str, Any] | None:
    """The result of a shard an earlier task finished (its file, no partial file), else ``None``.

    That task may have outlived the client that submitted it (Dask lets a
    running task finish); exporting again would only redo its work. The
    record count is read back from the file; how many pages it took is not
    known then (0).
    """
    if not os.path.isfile(spec.out) or any(
        os.path.exists(spec.out + suffix) for suffix in (".part", ".checkpoint.json")
    ):
        return None
    records = _count_records(spec.out, spec.format)
    return {
        "records": records,
        "pages": 0,
        "bytes": os.path.getsize(spec.out),
        "total_items": None,
        "resumed_records": records,
    }


def wait_until_unlocked(part: str, timeout: float = LOCK_WAIT) -> bool:
    """Wait up to ``timeout`` s until no export holds ``part``'s lock; ``False`` if one still does.

    A run of the same shard can still be going on elsewhere: a task whose
    client went away keeps running, and a worker the scheduler gave up on may
    not be dead. Waiting for it lets this task resume from (or find) what it
    wrote, instead of failing on the lock.
    """
    if sys.platform == "win32":  # pragma: no cover - no flock there
        return True
    try:
        fd = os.open(part, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # no partial file (or not one to open): nothing to wait for
        return True
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
    finally:
        os.close(fd)


def shard_task(
    spec_data: dict[str, Any],
    *,
    base_url: str | None,
    topic: str,
    fsync: bool,
    checkpoint_every: float,
) -> dict[str, Any]:
    """Export one shard (resuming its checkpoint, if any); its result's counts as a dict."""
    spec = ShardSpec.from_dict(spec_data)
    done = finished_shard(spec)
    if done is not None:
        return done
    wait_until_unlocked(spec.out + ".part")
    done = finished_shard(spec)  # the run waited for may have finished it
    if done is not None:
        return done
    report = _Reporter(topic, spec.index)

    async def run() -> ExportResult:
        async with _client(base_url, spec.concurrency) as client:
            return await export_shard(
                client,
                spec,
                resume=True,
                progress=report,
                fsync=fsync,
                checkpoint_every=checkpoint_every,
            )

    return _result(asyncio.run(run()))
