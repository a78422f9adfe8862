"""Bulk export: stream a listing into JSON Lines or CSV, atomically and resumably.

::

    from accutics_async.export import export, export_sharded

    async with AccuticsClient() as client:
        result = await export(client, "/records", "records.jsonl",
                              search="input_medium:eq:email", page_size=100,
                              concurrency=4, resume=True, progress=print)
        result.records, result.records_per_s

How it works, and why:

- **Constant memory.** Pages are taken from ``pager.pages()`` one at a time
  (the pager holds at most ``concurrency + 1``) and each page is encoded and
  written in one ``write``; nothing else is kept.
- **Atomic.** Records go to ``OUT.part`` beside ``OUT``; only a complete
  export is renamed to ``OUT`` (``os.replace``, after an fsync), so a reader
  never sees a half-written file under the final name.
- **Resumable.** Pages are appended to the partial file as they arrive; at
  most every ``checkpoint_every`` seconds (default 1), and whenever the
  export stops for any reason (an error, Ctrl-C, a cancelled task), the
  file is flushed and fsynced and then ``OUT.checkpoint.json`` is replaced
  atomically with the pager's
  checkpoint and the partial file's length. A page handed out by
  ``pages()`` counts as done, so page boundaries are checkpoint boundaries.
  (Committing after every page would fsync twice per page and roughly halve
  throughput; a hard kill costs at most ``checkpoint_every`` of work.)
  ``resume=True`` cuts the partial file back to the recorded length (pages
  written after the last commit, e.g. by a process killed with ``kill -9``,
  are dropped and fetched again) and continues the pager from the checkpoint, so
  the final file holds every record exactly once, in the order of a clean
  export. With ``resume=True`` and no checkpoint a new export starts; a
  checkpoint found with ``resume=False`` raises
  :class:`CheckpointExistsError` rather than silently overwriting it
  (:func:`discard_export` removes it). The checkpoint also refuses another
  query, another server or another format. ``fsync=False`` skips the
  fsyncs: a killed process still resumes exactly (the data is in the OS page
  cache), only a power cut can then lose pages.
- **Exclusive.** The partial file is locked (``flock``, POSIX) so a second
  export into the same file fails at once instead of interleaving.

File formats:

- ``jsonl``: one record per line as compact JSON (orjson), UTF-8, ``\\n``
  after each, exactly as the API sent it (key order kept).
- ``csv``: RFC 4180 (``,`` separated, ``"`` quoting where needed, CRLF line
  breaks), UTF-8 without BOM, one header row. Columns are the record keys in
  first-seen order. A streaming writer cannot widen a header it already
  wrote, so when a later record brings a new key the column is appended to
  the list and, at the end, the file is rewritten once with the full header
  and the earlier rows padded with empty fields (no extra pass when no new
  column appears, the usual case). Cell encoding: strings as they are,
  ``null`` and missing keys as the empty field (the two are not told apart),
  ``true``/``false``, numbers as JSON numbers, lists and objects as compact
  JSON text (``["a","b"]``). An export with no records writes an empty file
  (no header). Values are not altered against spreadsheet formula injection.

Sharding (:func:`export_sharded`; or, for a task runner,
:func:`plan_created_at_shards`, :func:`export_shard` per :class:`ShardSpec`
and :func:`merge_shards`): the query is split into ``created_at`` ranges
that run at the same time under one client (its ``max_concurrency`` is the
budget), each with its own file and checkpoint; the shard files are then
merged in shard order, so the result equals the unsharded export sorted by
``created_at``. This is how cursor endpoints, inherently sequential, are
exported in parallel.

On a Dask cluster (:func:`export_on_dask`, extra ``dask``): the same shards
as tasks, each writing its file and checkpoint to storage every worker
reaches, merged here; see ``export._dask``.

Errors: :class:`ExportError` (an ``AccuticsError``) for a checkpoint that
does not fit or a partial file changed or locked by someone else, its
subclass :class:`CheckpointExistsError`; API and transport errors from the
pager propagate unchanged, leaving the checkpoint for a resume.
"""

from __future__ import annotations

from ..errors import CheckpointExistsError, ExportError
from ._dask import export_on_dask
from ._destination import discard_export, read_checkpoint
from ._formats import FORMATS
from ._plan import ShardSpec, plan_created_at_shards
from ._shards import export_shard, export_sharded, merge_shards
from ._single import export, export_pager
from ._types import ExportFormat, ExportProgress, ExportResult, ProgressCallback

__all__ = [
    "FORMATS",
    "CheckpointExistsError",
    "ExportError",
    "ExportFormat",
    "ExportProgress",
    "ExportResult",
    "ProgressCallback",
    "ShardSpec",
    "discard_export",
    "export",
    "export_on_dask",
    "export_pager",
    "export_shard",
    "export_sharded",
    "merge_shards",
    "plan_created_at_shards",
    "read_checkpoint",
]
