"""What a sync remembers between runs, as one JSON-serialisable value.

The SQLite sink keeps it in a table of the same database, the change log in
a file beside the log; both commit it together with the rows or lines it
describes, so a crash at any point leaves the two consistent.
"""

from __future__ import annotations

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
        if not isinstance(data, dict) or data.get("kind") != STATE_KIND:
            raise SyncError(f"{where} does not hold accutics sync state", path=where)
        if data.get("version") != STATE_VERSION:
            raise SyncError(
                f"{where}: unsupported sync state version {data.get('version')!r}", path=where
            )
        window = data.get("window", {})
        ok = (
            isinstance(data.get("path"), str)
            and isinstance(data.get("key"), str)
            and (data.get("search") is None or isinstance(data.get("search"), str))
            and (data.get("watermark") is None or isinstance(data.get("watermark"), str))
            and _is_int(data.get("restart"), nullable=True)
            and _is_int(data.get("horizon"), nullable=True)
            and all(_is_int(data.get(name, 0)) for name in ("runs", "offset"))
            and all(isinstance(data.get(name, False), bool) for name in ("walking", "walking_full"))
            and isinstance(window, dict)
            and all(
                isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and _is_int(v[1])
                for v in window.values()
            )
        )
        if not ok:
            raise SyncError(f"{where}: the sync state is malformed; remove it to start over")
        fields = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
