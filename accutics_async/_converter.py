"""The private cattrs converter (orjson preconf) and the structuring entry points.

Never the global cattrs converter: a user's own hooks on it must not change
how this library reads the API, and ours must not change theirs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from ._models import CursorPagination, Meta, PageNumberPagination, Record

__all__ = ["CONVERTER", "build_converter", "structure", "structure_meta"]

T = TypeVar("T")

# datetime.fromisoformat learned the "Z" suffix in Python 3.11.
_FROMISO_TAKES_Z = sys.version_info >= (3, 11)

# Keys that tell a cursor pagination object from a page-number one
# (API_BASICS.md lists the properties of each).
_CURSOR_KEYS = frozenset({"next_cursor", "cursor_param"})


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what}: expected {_kind_name(kind)}, got {type(value).__name__}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _structure_str(value: Any, _: Any) -> str:
    # cattrs' default is str(value), which would turn a number or a dict into
    # text silently; API fields of the wrong type are a decoding error here.
    if type(value) is str:
        return value
    return _expect(value, str, "string field")  # type: ignore[no-any-return]


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    return _expect(value, int, "integer field")  # type: ignore[no-any-return]


def _structure_float(value: Any, _: Any) -> float:
    return float(_expect(value, (int, float), "number field"))


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"boolean field: expected bool, got {type(value).__name__}")


def parse_datetime(value: Any, _: Any = None) -> datetime:
    """Parse an ISO 8601 timestamp; a trailing ``Z`` is UTC on every Python."""
    text = _structure_str(value, None)
    if not _FROMISO_TAKES_Z and text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _structure_date(value: Any, _: Any) -> date:
    return date.fromisoformat(_structure_str(value, None))


def _structure_uuid(value: Any, _: Any) -> UUID:
    return UUID(_structure_str(value, None))


def _structure_cursor(value: Any, _: Any) -> str | None:
    # API_BASICS.md's example cursor is the number 255, so a numeric cursor
    # is accepted and kept as the text it will be sent back as.
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    return _structure_str(value, None)


def _optional_datetime(value: Any) -> datetime | None:
    return None if value is None else parse_datetime(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else _structure_str(value, None)


def _person(value: Any) -> str | dict[str, Any] | None:
    if value is None or type(value) is str or type(value) is dict:
        return value
    raise TypeError(f"author/updater: expected object or string, got {type(value).__name__}")


def _structure_record(value: Any, _: Any) -> Record:
    # Hand-written because the input_*/output_* split is not a field mapping
    # cattrs can generate, and records are the hot path of typed exports.
    get = _expect(value, dict, "record").get
    return Record(
        id=_structure_str(value["id"], None),
        created_at=_optional_datetime(get("created_at")),
        updated_at=_optional_datetime(get("updated_at")),
        author=_person(get("author")),
        updater=_person(get("updater")),
        submission=_optional_str(get("submission")),
        match_status=_optional_str(get("match_status")),
        inputs={k: v for k, v in value.items() if k.startswith("input_")},
        outputs={k: v for k, v in value.items() if k.startswith("output_")},
    )


def build_converter() -> OrjsonConverter:
    """Build the library's converter.

    Starts from cattrs' orjson preconf converter without detailed validation
    (it is several times slower and our boundary adds context itself), then:

    - ``str``, ``int``, ``float``, ``bool``: the JSON type must match; no
      silent ``str(123)`` or ``int("7")``; ``bool`` is not an ``int``.
    - ``datetime``: ISO 8601, ``Z`` suffix accepted on Python 3.10 too.
    - ``date`` and ``UUID``: from their ISO/hex string forms.
    - ``CursorPagination``: ``next_cursor`` may be a string or an integer.
    - ``Record``: ``input_*``/``output_*`` keys gathered into two mappings.

    Unknown keys in JSON objects are ignored everywhere (cattrs' default).
    """
    converter = make_converter(detailed_validation=False)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(UUID, _structure_uuid)
    converter.register_structure_hook(
        CursorPagination,
        make_dict_structure_fn(
            CursorPagination, converter, next_cursor=override(struct_hook=_structure_cursor)
        ),
    )
    converter.register_structure_hook(Record, _structure_record)
    return converter


CONVERTER = build_converter()


def structure(value: Any, model: type[T]) -> T:
    """Structure one JSON value into ``model``; raises ``ValueError``/``TypeError``/``KeyError``."""
    return CONVERTER.structure(value, model)


def structure_meta(raw: Any) -> Meta:
    """Build :class:`Meta` from the envelope's ``meta`` object.

    The pagination style is detected from the keys present, so no endpoint
    needs to be configured. Raises ``TypeError`` for a malformed ``meta``.
    """
    if raw is None:
        return Meta()
    raw = _expect(raw, dict, "meta")
    endpoint = _optional_str(raw.get("endpoint"))
    pagination_raw = raw.get("pagination")
    pagination: PageNumberPagination | CursorPagination | None = None
    if pagination_raw is not None:
        keys: Mapping[str, Any] = _expect(pagination_raw, dict, "meta.pagination")
        if _CURSOR_KEYS.intersection(keys):
            pagination = CONVERTER.structure(keys, CursorPagination)
        else:
            pagination = CONVERTER.structure(keys, PageNumberPagination)
    return Meta(endpoint=endpoint, pagination=pagination, raw=raw)
