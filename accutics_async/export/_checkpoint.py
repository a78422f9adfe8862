"""An export's checkpoint file (``OUT.checkpoint.json``): what it holds and how it is read back.

The format is frozen: checkpoints written by earlier releases must still
resume (``tests/fixtures/recorded`` holds some), so fields are only ever added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..errors import ExportError
from ._formats import FORMATS

__all__ = ["SavedState", "is_count"]

CHECKPOINT_KIND = "accutics_async.export"
CHECKPOINT_VERSION = 1


def is_count(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool) >= 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _is_encoder(value: Any) -> bool:
    return isinstance(value, dict) and all(
        _is_names(value.get(key) or []) for key in ("columns", "header")
    )


#: What each field of a checkpoint must be (a missing field is read as None,
#: except ``encoder``, which older checkpoints may lack).
_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "format": lambda value: value in FORMATS,
    "pager": lambda value: isinstance(value, dict),
    "offset": is_count,
    "records": is_count,
    "pages": is_count,
    "total_items": lambda value: value is None or is_count(value),
    "encoder": _is_encoder,
    "query": lambda value: isinstance(value, (dict, type(None))),
}
_DEFAULTS: dict[str, Any] = {"encoder": {}}


@attrs.frozen
class SavedState:
    """What the checkpoint file holds: where the pager and the partial file stand."""

    format: str
    pager: dict[str, Any]
    offset: int
    records: int = 0
    pages: int = 0
    total_items: int | None = None
    encoder: dict[str, Any] = attrs.field(factory=dict)
    # What export() was asked for (path, search, sort, page_size, params), so
    # a resume with other options can name the one that differs; None when
    # unknown (export_pager, or a checkpoint of an older version).
    query: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return bool(self.pager.get("done"))

    def to_json(self) -> dict[str, Any]:
        return {"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION, **attrs.asdict(self)}

    @classmethod
    def from_json(cls, data: Any, path: str) -> SavedState:
        """Validate a checkpoint file's content; raise ``ExportError`` naming ``path``."""
        bad = f"{path} is not an accutics export checkpoint"
        if not isinstance(data, dict) or data.get("kind") != CHECKPOINT_KIND:
            raise ExportError(bad)
        if data.get("version") != CHECKPOINT_VERSION:
            raise ExportError(f"{path}: unsupported checkpoint version {data.get('version')!r}")
        for key, check in _FIELD_CHECKS.items():
            if not check(data.get(key, _DEFAULTS.get(key))):
                raise ExportError(f"{bad} (malformed); remove it to start over")
        fields = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
