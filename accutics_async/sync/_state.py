"""What a sync remembers between runs, as one JSON-serialisable value.

The SQLite sink keeps it in a table of the same database, the change log in
a file beside the log; both commit it together with the rows or lines it
describes, so a crash at any point leaves the two consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..errors import SyncError

__all__ = ["SyncState"]

STATE_KIND = "accutics_async.sync"
STATE_VERSION = 1


def _is_int(value: object, *, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, int) and not isinstance(value, bool)


def _is_optional_int(value: object) -> bool:
    return _is_int(value, nullable=True)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_optional_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_flag(value: object) -> bool:
    return isinstance(value, bool)


def _is_window(value: object) -> bool:
    """``{id: [version hash, key second]}``."""
    return isinstance(value, dict) and all(
        isinstance(entry, list) and len(entry) == 2 and _is_text(entry[0]) and _is_int(entry[1])
        for entry in value.values()
    )


#: The check each saved field's value must pass. A field left out of the file
#: takes its default, except those in ``_REQUIRED`` (which have none).
_CHECKS: dict[str, Callable[[object], bool]] = {
    "path": _is_text,
    "search": _is_optional_text,
    "key": _is_text,
    "watermark": _is_optional_text,
    "restart": _is_optional_int,
    "horizon": _is_optional_int,
    "runs": _is_int,
    "offset": _is_int,
    "walking": _is_flag,
    "walking_full": _is_flag,
    "window": _is_window,
}
_REQUIRED = ("path", "search", "key")


def _fields_fit(data: dict[str, Any]) -> bool:
    return all(name in data for name in _REQUIRED) and all(
        check(data[name]) for name, check in _CHECKS.items() if name in data
    )


def _check_header(data: Any, where: str) -> None:
    """``SyncError`` unless ``data`` is sync state of the version this code reads."""
    if not isinstance(data, dict) or data.get("kind") != STATE_KIND:
        raise SyncError(f"{where} does not hold accutics sync state", path=where)
    if data.get("version") != STATE_VERSION:
        raise SyncError(
            f"{where}: unsupported sync state version {data.get('version')!r}", path=where
        )


@attrs.frozen
class SyncState:
    """The saved state of one synced listing.

    ``watermark`` is the largest key value synced, as the API wrote it.
    ``restart`` is the UTC second the next walk starts from (before
    ``lookback`` is taken off): the key second of the last record of the last
    committed page, or an earlier second when a walk could not prove it saw
    every record of a crowded second. ``walking`` is true from the first
    page of a run until its end, so an interrupted run is finished by the
    next one (``walking_full``: it was a ``full=True`` run). ``runs`` counts
    finished runs. The change log also keeps ``offset`` (its committed
    length), ``window`` (id -> [version hash, key second] of the versions
    written whose key second is at or after ``horizon``), which is what a
    later run can read again.
    """

    path: str
    search: str | None
    key: str
    watermark: str | None = None
    restart: int | None = None
    walking: bool = False
    walking_full: bool = False
    runs: int = 0
    offset: int = 0
    horizon: int | None = None
    window: dict[str, list[Any]] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": STATE_KIND, "version": STATE_VERSION, **attrs.asdict(self)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> SyncState:
        """Validate saved state; raise ``SyncError`` naming ``where``."""
        _check_header(data, where)
        if not _fields_fit(data):
            raise SyncError(f"{where}: the sync state is malformed; remove it to start over")
        fields = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
