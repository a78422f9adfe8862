"""The files of an export: the partial file, the checkpoint, the final rename, merging.

Synchronous and free of asyncio: :mod:`accutics_async.export` runs these
calls in a worker thread, so an ``fsync`` never stalls the event loop while
the pager fetches the next pages.

Files beside the destination ``OUT`` (same directory, so the final
``os.replace`` is an atomic rename on one file system):

- ``OUT.part``: the records written so far; renamed to ``OUT`` at the end.
- ``OUT.checkpoint.json``: written at each commit (temp file, fsync,
  ``os.replace``), holding the pager's checkpoint after a page and the byte
  length of ``OUT.part`` after that same page. On resume the partial file is
  cut back to that length, which drops whatever was written after it (pages
  since the last commit, or a page the export stopped before counting), and
  the pager continues after that page.
- ``OUT.shards.json``: the plan of a sharded export (see ``_shards``).

Every one of these files is created by the export itself, exclusively, and
read back or reused only if it is the user's own (``_safe_files``): a file or
symlink planted at one of these names is refused, never written through.

Why no directory fsync per page: if a crash loses the newest checkpoint
rename, the previous checkpoint is still a consistent pair with the partial
file (which only ever grows past it), so resuming is still exact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import attrs
import orjson

from .. import _safe_files as safe
from .._safe_files import fsync_dir
from ..errors import ExportError
from ._checkpoint import SavedState
from ._drop_behind import DropBehind
from ._formats import finish_csv, merge_csv

if sys.platform != "win32":  # no flock on Windows: a second writer is not detected there
    import fcntl

__all__ = [
    "STDOUT",
    "ExportPaths",
    "PartWriter",
    "StreamWriter",
    "check_destination",
    "lock",
    "merge_files",
    "read_json",
    "read_state",
    "remove_quietly",
    "write_json_atomic",
]

#: ``out`` for standard output: streamed, with no partial file and no checkpoint.
STDOUT = "-"

# What a destination that is not a regular file is, for the error message.
_FILE_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)


@attrs.frozen
class ExportPaths:
    """The destination and the files kept beside it while an export runs."""

    out: str

    @classmethod
    def for_out(cls, out: str | os.PathLike[str]) -> ExportPaths:
        path = os.fspath(out)
        # Checked before any request: a directory cannot become the file.
        if not isinstance(path, str) or not path or path.endswith(("/", os.sep)):
            raise ExportError(f"the output must be a file name, got {path!r}")
        if os.path.isdir(path):
            raise ExportError(f"the output {path} is a directory; name a file in it")
        return cls(path)

    def shard(self, index: int, count: int) -> str:
        """The file of shard ``index`` (0-based) of ``count``: always derived, never read."""
        return f"{self.out}.shard-{index + 1:03d}-of-{count:03d}"

    @property
    def part(self) -> str:
        return self.out + ".part"

    @property
    def checkpoint(self) -> str:
        return self.out + ".checkpoint.json"

    @property
    def plan(self) -> str:
        return self.out + ".shards.json"

    @property
    def rewrite(self) -> str:
        return self.out + ".part.rewrite"


# -- the destination and OS errors ---------------------------------------------------


def check_destination(out: str) -> None:
    """Raise ``ExportError`` unless ``out`` is ``-`` or a path a regular file can go to.

    Called before any request: the final ``os.replace`` would swap a device
    node, a FIFO or a socket for a regular file (``/dev/full`` "succeeding"
    on a full disk), and cannot replace a directory at all. A symbolic link
    is judged by what it points to. A missing file is fine if its directory
    exists.
    """
    if out == STDOUT:
        return
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise ExportError(
                f"cannot write {out}: the directory {folder} does not exist", path=out
            ) from None
        return
    except OSError as exc:
        raise os_error(exc, out) from exc
    for test, kind in _FILE_KINDS:
        if test(mode):
            raise ExportError(
                f"{out} is a {kind}, not a regular file: export to a file path, "
                f"or to {STDOUT!r} for standard output",
                path=out,
            )


def os_error(exc: OSError, path: str) -> ExportError:
    """``exc`` as an ``ExportError`` that names ``path`` (``raise os_error(...) from exc``)."""
    return ExportError(f"cannot write {path}: {exc.strerror or exc}", path=path)


@contextlib.contextmanager
def os_errors(path: str) -> Iterator[None]:
    """Turn an ``OSError`` in the block into an ``ExportError`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, path) from exc


# -- the partial file and the checkpoint ---------------------------------------------


def write_json_atomic(path: str, data: Any, *, fsync: bool) -> None:
    """Replace ``path`` with ``data`` as JSON: readers see the old or the new file, never half.

    On failure (a full disk, say) the old file stays as it was, the
    temporary file is removed, and ``ExportError`` names ``path``.
    """
    payload = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    with os_errors(path):
        safe.replace_small(path, payload, fsync=fsync)


def read_json(path: str) -> Any:
    """The JSON in ``path``, or ``None`` if there is no such file; ``ExportError`` if unreadable.

    Only a regular file of the user's, not writable by others, is read.
    """
    raw = safe.read_trusted(path)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); remove it to start over") from exc


def remove_quietly(*paths: str) -> None:
    """Remove those of ``paths`` that exist; ``ExportError`` for one that is not the user's file."""
    safe.remove(*paths)


def lock(handle: IO[bytes], what: str) -> None:
    """Hold an exclusive advisory lock on ``handle`` or raise ``ExportError`` at once."""
    if sys.platform == "win32":  # pragma: no cover
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise ExportError(f"another export is writing {what}") from exc


def read_state(paths: ExportPaths) -> SavedState | None:
    """The saved state of an interrupted export into ``paths.out``, or ``None``."""
    data = read_json(paths.checkpoint)
    return None if data is None else SavedState.from_json(data, paths.checkpoint)


class PartWriter:
    """Appends pages to the partial file; each :meth:`commit` makes them durable and checkpoints."""

    def __init__(self, paths: ExportPaths, *, offset: int, fsync: bool) -> None:
        self._paths = paths
        self._fsync = fsync
        with os_errors(paths.part):
            fd = safe.open_trusted(paths.part, write=True) if offset else None
            if fd is None and offset:
                raise ExportError(
                    f"{paths.part} is missing but its checkpoint expects {offset} bytes"
                )
            if fd is None:
                fd = self._fresh(paths)
            self._file: IO[bytes] = os.fdopen(fd, "r+b")
        self._drop_behind = DropBehind(fd, offset)
        try:
            lock(self._file, paths.out)
            with os_errors(paths.part):
                size = os.fstat(fd).st_size
                if size < offset:
                    raise ExportError(
                        f"{paths.part} is shorter ({size} bytes) than its checkpoint says "
                        f"({offset}); it was changed outside this export. Start over.",
                        path=paths.part,
                    )
                if size > offset:
                    self._file.truncate(offset)
                self._file.seek(offset)
        except BaseException:
            self.close()
            raise
        self.offset = offset

    @staticmethod
    def _fresh(paths: ExportPaths) -> int:
        """Create the partial file; a leftover of the user's own is removed first.

        The leftover (a run killed before its first checkpoint) is locked
        before it goes: a second export into the same file must fail before
        it destroys anything.
        """
        old = safe.open_trusted(paths.part, write=True, private=False)
        if old is not None:
            with os.fdopen(old, "r+b") as leftover:
                lock(leftover, paths.out)
                safe.remove(paths.part)
        return safe.create_exclusive(paths.part)

    def append(self, data: bytes) -> None:
        """Append ``data`` (buffered; made durable by the next :meth:`commit`).

        Every few MiB the bytes before are handed back to the kernel, in the
        file's own thread (see ``_drop_behind``): an append never waits for that.
        """
        with os_errors(self._paths.part):
            self._file.write(data)
        self.offset += len(data)
        self._drop_behind.appended(self.offset)

    def commit(self, state: SavedState) -> None:
        """Make everything appended durable, then record ``state``.

        The order is the point: the checkpoint never names bytes the file
        might not hold after a crash. ``state.offset`` says how many bytes
        it covers.
        """
        with os_errors(self._paths.part):
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        # The state's own offset, not the file's: the file may already hold a
        # page the state does not count yet, which a resume must cut off.
        write_json_atomic(self._paths.checkpoint, state.to_json(), fsync=self._fsync)

    def finish(self, csv_columns: Sequence[str] | None) -> int:
        """Rename the partial file to the destination (rewriting a CSV header first if given).

        Returns the final size in bytes. The checkpoint is removed last, so a
        crash in between leaves a "done" checkpoint that finishes on resume.
        """
        paths = self._paths
        with os_errors(paths.part):
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        if csv_columns is not None:
            try:
                with os.fdopen(safe.recreate(paths.rewrite), "wb") as dst:
                    finish_csv(paths.part, csv_columns, dst)
                    dst.flush()
                    if self._fsync:
                        os.fsync(dst.fileno())
                    safe.publish(dst.fileno())
            except OSError as exc:
                remove_quietly(paths.rewrite)
                raise os_error(exc, paths.rewrite) from exc
            with os_errors(paths.out):
                os.replace(paths.rewrite, paths.out)
            self.close()
            remove_quietly(paths.part)
        else:
            safe.publish(self._file.fileno())  # created 0600; the result gets the umask's mode
            self.close()  # Windows cannot rename an open file
            with os_errors(paths.out):
                os.replace(paths.part, paths.out)
        if self._fsync:
            fsync_dir(paths.out)
        remove_quietly(paths.checkpoint)
        return os.path.getsize(paths.out)

    def discard(self) -> None:
        """Remove the partial file (still locked, so no other export has it) and close it."""
        remove_quietly(self._paths.part)
        self.close()

    def close(self) -> None:
        self._drop_behind.close()  # before its file descriptor goes
        # Whatever a failed close could not flush is after the last commit:
        # a resume fetches it again, so the error adds nothing.
        with contextlib.suppress(OSError):
            self._file.close()


class StreamWriter:
    """The :class:`PartWriter` interface over standard output: streamed, nothing to resume.

    Each page is flushed as it is written, so a reader down a pipe sees
    records as they come.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.offset = 0

    def append(self, data: bytes) -> None:
        with os_errors(STDOUT):
            self._stream.write(data)
            self._stream.flush()
        self.offset += len(data)

    def commit(self, state: SavedState) -> None:
        """Nothing to commit: standard output keeps no checkpoint."""

    def finish(self, csv_columns: Sequence[str] | None) -> int:
        if csv_columns is not None:
            raise ExportError(
                "a later record brought new CSV columns, and a header already written to "
                "standard output cannot be widened: export CSV with changing columns to a file",
                path=STDOUT,
            )
        return self.offset

    def discard(self) -> None:
        """Nothing to remove."""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.flush()


# -- merging shard files -------------------------------------------------------------


def merge_files(sources: Sequence[str], out: str, tmp: str, fmt: str, *, fsync: bool) -> int:
    """Concatenate finished shard files into ``out`` atomically (via ``tmp``); return its size.

    JSON Lines are copied byte for byte. CSV shards may differ in columns
    (each saw its own records first): the merged header is their union in
    shard order, which is the first-seen order over all records, i.e. what
    one unsharded export writes; rows are copied as is where a shard's
    header already equals it, else their raw fields are moved into place.
    """
    for source in sources:  # each must be a finished shard file of the user's, not a link
        _shard_source(source).close()
    try:
        with os.fdopen(safe.recreate(tmp), "wb") as dst:
            if fmt == "jsonl":
                for source in sources:
                    with _shard_source(source) as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
            else:
                merge_csv(sources, dst)
            dst.flush()
            if fsync:
                os.fsync(dst.fileno())
            safe.publish(dst.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        remove_quietly(tmp)
        raise os_error(exc, exc.filename if isinstance(exc.filename, str) else out) from exc
    if fsync:
        fsync_dir(out)
    return os.path.getsize(out)


def _shard_source(path: str) -> IO[bytes]:
    fd = safe.open_trusted(path, write=False, private=False)
    if fd is None:
        raise ExportError(f"the shard file {path} is missing")
    return os.fdopen(fd, "rb")
