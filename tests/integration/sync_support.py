"""What the sync tests check after each run: the sink against the fake server's records."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from accutics_async.testing import FakeAccuticsServer


def current(server: FakeAccuticsServer) -> dict[str, dict[str, Any]]:
    """The server's records at their latest versions, by id."""
    return {record["id"]: record for record in server.all_records()}


def table_rows(db: Path, table: str = "records") -> dict[str, dict[str, Any]]:
    """The synced table as {id: record}; checks the key column agrees with the record."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f'SELECT id, updated_at, record FROM "{table}"').fetchall()
    conn.close()
    found = {}
    for ident, key, text in rows:
        record = orjson.loads(text)
        assert record["id"] == ident
        assert record["updated_at"] == key
        found[ident] = record
    return found


def log_versions(log: Path) -> list[bytes]:
    """The change log's lines (each one record version), checking none is written twice."""
    lines = log.read_bytes().splitlines()
    twice = [line for line, count in Counter(lines).items() if count > 1]
    assert not twice, f"versions written twice: {twice[:2]}"
    return lines


def assert_in_step(server: FakeAccuticsServer, into: Path, *, table: str = "records") -> None:
    """The sink holds exactly the server's latest versions (table) or misses none (log)."""
    latest = current(server)
    if into.suffix == ".jsonl":
        logged = {orjson.dumps(orjson.loads(line)) for line in log_versions(into)}
        missing = [r for r in latest.values() if orjson.dumps(r) not in logged]
        assert not missing, f"{len(missing)} versions missing, e.g. {missing[0]['id']}"
    else:
        rows = table_rows(into, table)
        assert rows.keys() == latest.keys()
        stale = [ident for ident, record in rows.items() if record != latest[ident]]
        assert not stale, f"{len(stale)} rows not at their latest version"
