"""The SQLite sink: a table of records by id, and the sync state, in one database.

Synchronous (standard-library ``sqlite3``); the sync runs every call in its
one worker thread. Each page is one transaction holding its rows and the
new state, so a process killed at any point leaves both as they were after
some page: the next run goes on from there.

Tables (``T`` is the table name, ``K`` the key column)::

    T(id TEXT PRIMARY KEY, K TEXT, record TEXT NOT NULL)
    accutics_sync_state(tbl TEXT PRIMARY KEY, state TEXT NOT NULL)      -- JSON
    accutics_sync_seen(tbl TEXT, id TEXT, PRIMARY KEY (tbl, id))        -- full runs only

Names are checked identifiers (see ``_keys``) and quoted, so splicing them
into SQL is safe; every value goes in as a parameter.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

import orjson

from .. import _safe_files as safe
from ..errors import ExportError, SyncError
from ._keys import Entry
from ._state import SyncState

__all__ = ["SqliteSink"]


class SqliteSink:
    """Rows of one listing in table ``table`` of the database ``path``."""

    kind = "sqlite"

    def __init__(self, path: str, table: str, key: str) -> None:
        self.path = path
        self.table = table
        self.key = key
        self._db: sqlite3.Connection | None = None

    def _fail(self, exc: BaseException) -> SyncError:
        return SyncError(f"{self.path}: {exc}", path=self.path)

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "open() first"
        return self._db

    def open(self) -> SyncState | None:
        """Connect, create the tables if needed; return the saved state or ``None``."""
        if os.path.isdir(self.path):
            raise SyncError(f"{self.path} is a directory, not a database file", path=self.path)
        try:
            # An existing database must be a regular file of the user's: SQLite
            # would follow a planted symlink and hang opening a FIFO.
            fd = safe.open_trusted(self.path, write=False, private=False)
        except ExportError as exc:
            raise SyncError(str(exc), path=self.path) from exc
        if fd is not None:
            os.close(fd)
        try:
            # Autocommit mode: transactions are begun and ended explicitly below.
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            table, key = f'"{self.table}"', f'"{self.key}"'
            with self._transaction():
                self.db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} "
                    f"(id TEXT PRIMARY KEY, {key} TEXT, record TEXT NOT NULL)"
                )
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS accutics_sync_state "
                    "(tbl TEXT PRIMARY KEY, state TEXT NOT NULL)"
                )
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS accutics_sync_seen (tbl TEXT NOT NULL, "
                    "id TEXT NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID"
                )
            columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            row = self.db.execute(
                "SELECT state FROM accutics_sync_state WHERE tbl = ?", (self.table,)
            ).fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise self._fail(exc) from exc
        missing = {"id", self.key, "record"} - columns
        if missing:
            self.close()
            raise SyncError(
                f"{self.path}: table {self.table} has no column {', '.join(sorted(missing))} "
                "(made by something else, or synced by another key); pass another table",
                path=self.path,
            )
        if row is None:
            return None
        try:
            data = orjson.loads(row[0])
        except orjson.JSONDecodeError:
            data = None
        return SyncState.from_json(data, f"{self.path} (state of table {self.table})")

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def _save(self, state: SyncState) -> None:
        self.db.execute(
            "INSERT INTO accutics_sync_state (tbl, state) VALUES (?, ?) "
            "ON CONFLICT(tbl) DO UPDATE SET state = excluded.state",
            (self.table, orjson.dumps(state.to_json()).decode()),
        )

    def begin_full(self, state: SyncState) -> None:
        """Start a full walk: forget the ids a previous one saw, save ``state``."""
        try:
            with self._transaction():
                self.db.execute("DELETE FROM accutics_sync_seen WHERE tbl = ?", (self.table,))
                self._save(state)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def prepare(self, lower: int | None, full: bool) -> None:
        """Nothing to prepare: the table itself tells what is stored."""

    def write(self, entries: Sequence[Entry], state: SyncState, mark_seen: bool) -> tuple[int, int]:
        """Upsert ``entries`` and save ``state`` in one transaction; return (upserted, unchanged).

        A row whose stored JSON equals the new one is left alone (unchanged).
        """
        table, key = f'"{self.table}"', f'"{self.key}"'
        rows = [(e.id, e.key, e.body.decode()) for e in entries]
        try:
            with self._transaction():
                before = self.db.total_changes
                self.db.executemany(
                    f"INSERT INTO {table} (id, {key}, record) VALUES (?, ?, ?) "
                    f"ON CONFLICT(id) DO UPDATE SET {key} = excluded.{key}, "
                    f"record = excluded.record WHERE {table}.record IS NOT excluded.record",
                    rows,
                )
                upserted = self.db.total_changes - before
                if mark_seen:
                    self.db.executemany(
                        "INSERT OR IGNORE INTO accutics_sync_seen (tbl, id) VALUES (?, ?)",
                        [(self.table, e.id) for e in entries],
                    )
                self._save(state)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        return upserted, len(rows) - upserted

    def finish(self, state: SyncState, delete_unseen: bool) -> int:
        """End the run: with ``delete_unseen``, drop rows the full walk did not see; save state.

        Returns the number of rows deleted.
        """
        deleted = 0
        try:
            with self._transaction():
                if delete_unseen:
                    before = self.db.total_changes
                    self.db.execute(
                        f'DELETE FROM "{self.table}" WHERE id NOT IN '
                        "(SELECT id FROM accutics_sync_seen WHERE tbl = ?)",
                        (self.table,),
                    )
                    deleted = self.db.total_changes - before
                    self.db.execute("DELETE FROM accutics_sync_seen WHERE tbl = ?", (self.table,))
                self._save(state)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        return deleted

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        # IMMEDIATE takes the write lock now, so a second writer waits (up
        # to the timeout) instead of failing halfway through the page.
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
