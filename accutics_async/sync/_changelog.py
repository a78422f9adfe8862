"""The JSON Lines change log: each run appends the record versions that changed.

Synchronous; the sync runs every call in its one worker thread. Files:

- ``LOG`` (``*.jsonl``): one record version a line, compact JSON, appended.
- ``LOG.sync-state.json``: the sync state, with the log's committed length.

The commit is the export's (``export._files``): append a page, flush and
fsync the log, then replace the state file atomically. A run that starts
cuts the log back to the committed length first, which drops lines written
after the last commit by a killed process; they are fetched again.

No version is written twice: a version is its JSON text's hash, and a
line is appended only when the hash differs from the last one written for
that id. The state keeps the hashes of the versions whose key second is at
or after its ``horizon`` (the next run's first second), which is all a
normal run can read again; a run that starts before the horizon (a longer
``lookback``, a ``full`` run) reads the hashes from the log itself instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

import attrs
import orjson

from .. import _safe_files as safe
from ..errors import ExportError, SyncError
from ..export._files import lock, read_json, write_json_atomic
from ._keys import Entry, instant, version_hash
from ._state import SyncState

__all__ = ["ChangeLog"]


class ChangeLog:
    """Appends changed versions to ``path``; state in ``path + '.sync-state.json'``."""

    kind = "jsonl"

    def __init__(self, path: str, key: str, lookback: int, *, fsync: bool = True) -> None:
        self.path = path
        self.state_path = path + ".sync-state.json"
        self.key = key
        self._lookback = lookback
        self._fsync = fsync
        self._file: IO[bytes] | None = None
        self._offset = 0
        self._window: dict[str, list[Any]] = {}
        self._known: dict[str, str] | None = None  # id -> hash, when read from the log
        self._horizon: int | None = None

    def open(self) -> SyncState | None:
        """Open and lock the log, cut it back to its last commit; return the state or ``None``.

        A new log gets its state file first (offset 0), then the log itself,
        created exclusively: a run killed in between leaves a state that a
        missing log fits. A log without a state file was not written by a
        sync and is refused, never adopted.
        """
        if os.path.isdir(self.path):
            raise SyncError(f"{self.path} is a directory, not a change log", path=self.path)
        state = self._read_state()
        offset = 0 if state is None else state.offset
        fd = self._open_log(state, offset)
        self._file = os.fdopen(fd, "r+b")
        try:
            self._lock_and_cut(offset)
        except BaseException:
            self.close()
            raise
        self._offset = offset
        if state is not None:
            self._window = dict(state.window)
            self._horizon = state.horizon
        if state is not None and not state.path:
            return None  # only the placeholder written before the log was created
        return state

    def _read_state(self) -> SyncState | None:
        try:
            data = read_json(self.state_path)
        except ExportError as exc:
            raise SyncError(str(exc), path=self.state_path) from exc
        return None if data is None else SyncState.from_json(data, self.state_path)

    def _open_log(self, state: SyncState | None, offset: int) -> int:
        """The log's file descriptor: the existing log of a sync, or a new one."""
        try:
            fd = safe.open_trusted(self.path, write=True)
            if fd is None:
                return self._create_log(state, offset)
        except SyncError:
            raise
        except ExportError as exc:  # a file that is not the user's: refused, not followed
            raise SyncError(str(exc), path=self.path) from exc
        if state is None:
            os.close(fd)
            raise SyncError(
                f"{self.path} exists and was not written by a sync (no {self.state_path}); "
                "sync into a new file",
                path=self.path,
            )
        return fd

    def _create_log(self, state: SyncState | None, offset: int) -> int:
        if offset:
            raise SyncError(
                f"{self.path} is gone, but {self.state_path} says it held {offset} "
                "bytes; remove the state file to start over",
                path=self.path,
            )
        if state is None:
            self._save_state(SyncState(path="", search=None, key=self.key))
        fd = safe.create_exclusive(self.path)
        safe.publish(fd)  # the log is the user's file, not a private working file
        return fd

    def _lock_and_cut(self, offset: int) -> None:
        """Lock the open log and cut off what was written after its last commit."""
        assert self._file is not None
        try:
            lock(self._file, self.path)
        except ExportError as exc:
            raise SyncError(f"another sync is writing {self.path}", path=self.path) from exc
        size = os.fstat(self._file.fileno()).st_size
        if size < offset:
            raise SyncError(
                f"{self.path} is shorter ({size} bytes) than its sync state says "
                f"({offset}); it was changed outside the sync",
                path=self.path,
            )
        # Lines after the last commit are a killed run's: the next walk fetches them again.
        self._file.truncate(offset)
        self._file.seek(offset)

    def begin_full(self, state: SyncState) -> None:
        self._commit(state)

    def prepare(self, lower: int | None, full: bool) -> None:
        """Choose where the versions already written are looked up for this run."""
        horizon = self._horizon
        if full or lower is None or horizon is None or lower < horizon:
            self._known = self._read_log()

    def _read_log(self) -> dict[str, str]:
        """Map each id in the committed log to the hash of its last version; rebuild the window."""
        known: dict[str, str] = {}
        window: dict[str, list[Any]] = {}
        assert self._file is not None
        self._file.seek(0)
        remaining = self._offset
        for line in self._file:
            if remaining <= 0:
                break
            remaining -= len(line)
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict) and "id" in item:
                ident, digest = str(item["id"]), version_hash(line.rstrip(b"\n"))
                known[ident] = digest
                when = instant(item.get(self.key))
                window[ident] = [digest, int(when // 1) if when is not None else 0]
        self._file.seek(self._offset)
        self._window = window
        return known

    def write(self, entries: Sequence[Entry], state: SyncState, mark_seen: bool) -> tuple[int, int]:
        """Append the versions not written yet, commit with ``state``.

        Returns ``(written, unchanged)``.
        """
        assert self._file is not None
        written = 0
        chunks = []
        for entry in entries:
            digest = version_hash(entry.body)
            if self._known is not None:
                previous: str | None = self._known.get(entry.id)
            else:
                held = self._window.get(entry.id)
                previous = held[0] if held else None
            if previous == digest:
                continue
            chunks.append(entry.body + b"\n")
            self._window[entry.id] = [digest, entry.second]
            if self._known is not None:
                self._known[entry.id] = digest
            written += 1
        if chunks:
            data = b"".join(chunks)
            try:
                self._file.write(data)
            except OSError as exc:
                message = f"cannot write {self.path}: {exc.strerror}"
                raise SyncError(message, path=self.path) from exc
            self._offset += len(data)
        self._commit(state)
        return written, len(entries) - written

    def finish(self, state: SyncState, delete_unseen: bool) -> int:
        self._commit(state)
        return 0

    def _commit(self, state: SyncState) -> None:
        """Make the appended lines durable, then replace the state (naming the new length)."""
        assert self._file is not None
        horizon = None if state.restart is None else state.restart - self._lookback
        if horizon is not None:
            self._window = {k: v for k, v in self._window.items() if v[1] >= horizon}
        saved = attrs.evolve(state, offset=self._offset, horizon=horizon, window=self._window)
        try:
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise SyncError(f"cannot commit {self.path}: {exc.strerror}", path=self.path) from exc
        self._save_state(saved)

    def _save_state(self, state: SyncState) -> None:
        try:
            write_json_atomic(self.state_path, state.to_json(), fsync=self._fsync)
        except ExportError as exc:
            raise SyncError(str(exc), path=self.state_path) from exc

    def close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()
