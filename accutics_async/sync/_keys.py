"""Pure pieces of a sync: key values, the window's search, names, entries and versions.

No I/O here: everything is a function of its arguments, unit-tested alone.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from datetime import timezone
from typing import Any

import attrs
import orjson

from .._sansio.isotime import parse_datetime
from .._sansio.search import F, Filter, Search, to_wire
from ..errors import SyncError

__all__ = [
    "SINK_SUFFIXES",
    "Entry",
    "check_key",
    "encode_entries",
    "instant",
    "is_sql_name",
    "last_segment",
    "sink_kind",
    "table_name",
    "version_hash",
    "window_search",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SINK_SUFFIXES = {".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite", ".jsonl": "jsonl"}
# Names the SQLite sink uses itself, so neither a table nor a key column.
_RESERVED = frozenset({"id", "record", "accutics_sync_state", "accutics_sync_seen"})


def instant(text: object) -> float | None:
    """Return an ISO 8601 timestamp as UTC seconds (fraction kept), or ``None`` if it is not one.

    Read by the client's own ISO 8601 language (``_sansio.isotime``), the same on
    every Python; no zone is read as UTC.
    """
    if not isinstance(text, str):
        return None
    try:
        when = parse_datetime(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def iso_second(epoch: int) -> str:
    """Return UTC seconds as ISO 8601 Zulu, the form the search language takes."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def check_key(key: object) -> str:
    """Return ``key`` if it can name a record field and a SQLite column; raise ``SyncError``."""
    if not isinstance(key, str) or _IDENTIFIER.fullmatch(key) is None:
        raise SyncError(f"key must be a field name such as 'updated_at', got {key!r}")
    if key.lower() in _RESERVED:
        raise SyncError(f"key {key!r} is a name the sync uses itself; pick a timestamp field")
    return key


def is_sql_name(text: str) -> bool:
    """Whether ``text`` is a plain SQL identifier (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return _IDENTIFIER.fullmatch(text) is not None


def last_segment(path: str) -> str:
    """The last segment of ``path``'s own path (its query left out): the default table name."""
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def table_name(path: str, table: str | None) -> str:
    """Return the SQLite table for a listing: ``table``, else the last segment of ``path``.

    Raises ``SyncError`` for a name that is not a plain identifier (it is
    spliced into SQL, so only ``[A-Za-z_][A-Za-z0-9_]*`` is accepted).
    """
    name = table if table is not None else last_segment(path)
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        what = "table" if table is not None else f"the last segment of {path!r}"
        raise SyncError(f"{what} ({name!r}) is not a plain SQL name; pass table='name'")
    if name.lower() in _RESERVED or name.lower().startswith("sqlite_"):
        raise SyncError(f"table {name!r} is reserved; pass another table name")
    return name


def sink_kind(into: str) -> str:
    """Return ``"sqlite"`` or ``"jsonl"`` from the suffix of ``into``; raise ``SyncError``."""
    lower = into.lower()
    for suffix, kind in SINK_SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    raise SyncError(
        f"cannot tell the sink from {into!r}: use a name ending in {', '.join(SINK_SUFFIXES)}",
        path=into,
    )


def window_search(
    search: Search | Filter | str | None, key: str, lower: int | None, upper: int | None = None
) -> str | None:
    """The ``search`` text for records of ``search`` whose ``key`` is in ``[lower, upper)``.

    ``lower``/``upper`` are UTC seconds (``None``: unbounded). The user's
    filters come first, ours after them, joined by ``;`` (all must match).
    """
    text = to_wire(search)
    filters: list[Filter] = list(Search.parse(text).filters) if text else []
    if lower is not None:
        filters.append(F(key).gte(iso_second(lower)))
    if upper is not None:
        filters.append(F(key).lt(iso_second(upper)))
    return str(Search(tuple(filters))) or None


@attrs.frozen
class Entry:
    """One record as the sync handles it: id, key value (text and second), JSON text."""

    id: str
    key: str
    second: int
    body: bytes


def encode_entries(items: Iterable[Any], key: str) -> list[Entry]:
    """Return the entries of a page's items; raise ``SyncError`` for an item that cannot sync.

    An item must be an object with an ``id`` and a timestamp in ``key``.
    The JSON text is the item re-encoded compactly by orjson, keys in the
    order the API sent them.
    """
    entries = []
    for item in items:
        if not isinstance(item, Mapping):
            raise SyncError(f"a listing item is not a JSON object: {str(item)[:80]!r}")
        ident = item.get("id")
        if not isinstance(ident, (str, int)) or isinstance(ident, bool) or ident == "":
            raise SyncError(f"a listing item has no usable 'id': {str(ident)[:80]!r}")
        value = item.get(key)
        when = instant(value)
        if when is None:
            raise SyncError(
                f"record {ident}: {key!r} is {str(value)[:60]!r}, not an ISO 8601 timestamp; "
                "sync needs a timestamp key on every record"
            )
        entries.append(Entry(str(ident), str(value), int(when // 1), orjson.dumps(item)))
    return entries


def version_hash(body: bytes) -> str:
    """A short fingerprint of one record version (its JSON text)."""
    return hashlib.blake2b(body, digest_size=8).hexdigest()
