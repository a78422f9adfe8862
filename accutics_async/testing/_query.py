"""Search, sort and cursor semantics of the fake server, as pure functions.

``search`` and ``sort`` texts are read by the fake's own grammar
(:mod:`._grammar`, independent of the client's parser), then checked against
the record schema and compiled into predicates and sort keys here. Every problem raises
:class:`QueryError`, which the server answers with a 422 error envelope.
The documented choices are listed in the :mod:`accutics_async.testing`
docstring.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard

import attrs
import orjson

from ._grammar import GrammarError, parse_search, parse_sort
from ._schema import FIELDS, MATCH_STATUSES, OPERATORS_BY_KIND, STATUS_MEMBERS, Kind

__all__ = [
    "DEFAULT_SORT",
    "CompiledFilter",
    "QueryError",
    "SortSpec",
    "compare_keys",
    "compile_search",
    "compile_sort",
    "decode_cursor",
    "encode_cursor",
    "normalise_timestamp",
    "record_key",
    "sort_item",
    "sort_items",
    "timestamp_epoch",
]

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

# ASCII digits only: a str pattern's \d takes any script's, which the
# created_at fast path (by epoch) and the string comparison read differently.
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z", re.ASCII)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


class QueryError(Exception):
    """A bad query parameter or body: answered 422 with ``code`` and ``data``."""

    def __init__(self, code: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = dict(data or {})


def is_missing(value: object) -> bool:
    """Return whether ``value`` counts as missing: absent/None, ``""``, ``[]`` or ``{}``."""
    return value is None or value == "" or value == [] or value == {}


def normalise_timestamp(text: str) -> str | None:
    """Return ``text`` as ``YYYY-MM-DDTHH:MM:SSZ`` (fraction stripped), or ``None`` if invalid.

    Only ISO 8601 Zulu is accepted, as API_BASICS.md requires for timestamps.
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return text[:19] + "Z"


def timestamp_epoch(text: str) -> int:
    """Return a normalised timestamp (see :func:`normalise_timestamp`) as UTC seconds."""
    return calendar.timegm(
        (int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
         int(text[17:19]))
    )  # fmt: skip


@attrs.frozen
class CompiledFilter:
    """One checked filter: ``predicate`` decides it for a record."""

    field: str
    operator: str
    values: tuple[str, ...]
    predicate: Predicate


def _invalid(message: str, **data: Any) -> QueryError:
    return QueryError("invalid_search", message, data)


def _values_for(kind: Kind, field: str, operator: str, values: tuple[str, ...]) -> tuple[Any, ...]:
    """Return the filter ``values`` converted for comparing with ``kind`` fields."""
    if kind in ("timestamp", "date"):
        out = tuple(normalise_timestamp(v) for v in values)
        for raw, value in zip(values, out, strict=True):
            if value is None:
                raise _invalid(
                    f"{raw!r} is not an ISO 8601 Zulu timestamp (e.g. 2024-01-01T00:00:00Z)",
                    dimension=field,
                    operator=operator,
                    value=raw,
                )
        return out
    if kind == "number":
        for raw in values:
            if _NUMBER.fullmatch(raw) is None:
                raise _invalid(
                    f"{raw!r} is not a number", dimension=field, operator=operator, value=raw
                )
        return tuple(float(v) for v in values)
    if kind == "status":
        unknown = [v for v in values if v not in STATUS_MEMBERS]
        if unknown:
            raise _invalid(
                f"unknown match_status {unknown[0]!r}; expected one of {', '.join(MATCH_STATUSES)}",
                dimension=field,
                operator=operator,
                value=unknown[0],
            )
        return tuple(frozenset().union(*(STATUS_MEMBERS[v] for v in values)))
    return values


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal_any(kind: Kind, field: str, wanted: tuple[Any, ...]) -> Predicate:
    """Predicate: the field equals one of ``wanted`` (kind-aware)."""
    targets = frozenset(wanted)
    if kind == "user":
        # "User IDs" (API_BASICS.md, equal): a user matches by its id.
        return lambda r: isinstance(u := r.get(field), dict) and u.get("id") in targets
    if kind == "multiselect":
        return lambda r: isinstance(v := r.get(field), list) and not targets.isdisjoint(v)
    if kind == "number":
        return lambda r: _is_number(v := r.get(field)) and float(v) in targets
    return lambda r: isinstance(v := r.get(field), str) and v in targets


def _texts(kind: Kind, value: object) -> tuple[str, ...]:
    # The strings a LIKE-style operator looks at: a user's name and email
    # ("via Hub name/email search"), otherwise the value itself.
    if kind == "user" and isinstance(value, dict):
        return tuple(str(value.get(key) or "") for key in ("name", "email"))
    return (value,) if isinstance(value, str) else ()


def _like(kind: Kind, field: str, wanted: tuple[str, ...], how: str) -> Predicate:
    # Case-insensitive, as MySQL LIKE is under the usual _ci collations; the
    # value is matched literally ("% and _ in the value are escaped").
    needles = tuple(v.casefold() for v in wanted)

    def test(text: str) -> bool:
        folded = text.casefold()
        if how == "contains":
            return any(n in folded for n in needles)
        if how == "beginswith":
            return folded.startswith(needles)
        return folded.endswith(needles)

    return lambda r: any(test(t) for t in _texts(kind, r.get(field)))


def _compare(kind: Kind, field: str, operator: str, bound: Any) -> Predicate:
    test: Callable[[Any], bool] = {
        "gt": lambda v: v > bound,
        "gte": lambda v: v >= bound,
        "lt": lambda v: v < bound,
        "lte": lambda v: v <= bound,
    }[operator]
    if kind == "number":
        return lambda r: _is_number(v := r.get(field)) and test(float(v))
    # Stored timestamps are normalised Zulu text, whose order is time order.
    return lambda r: isinstance(v := r.get(field), str) and test(v)


def _build(kind: Kind, field: str, operator: str, values: tuple[Any, ...]) -> Predicate:
    if operator == "exists":
        return lambda r: not is_missing(r.get(field))
    if operator == "missing":
        return lambda r: is_missing(r.get(field))
    if operator in ("eq", "hasany"):
        return _equal_any(kind, field, values)
    if operator in ("neq", "hasnone"):
        # "Not in subquery": a record without a value matches.
        positive = _equal_any(kind, field, values)
        return lambda r: not positive(r)
    if operator == "hasall":
        needed = frozenset(values)
        return lambda r: isinstance(v := r.get(field), list) and needed.issubset(v)
    if operator in ("contains", "beginswith", "endswith"):
        return _like(kind, field, values, operator)
    return _compare(kind, field, operator, values[0])


def compile_search(text: str) -> tuple[CompiledFilter, ...]:
    """Return the checked filters of a ``search`` parameter (all must match).

    Raises :class:`QueryError` (``invalid_search``) for a syntax error, an
    unknown dimension, an operator the dimension does not support or a value
    of the wrong form.
    """
    try:
        clauses = parse_search(text)
    except GrammarError as exc:
        raise _invalid(exc.message, search=text, **exc.data) from exc
    compiled = []
    for item in clauses:
        kind = FIELDS.get(item.dimension)
        if kind is None:
            raise _invalid(f"unknown dimension {item.dimension!r}", dimension=item.dimension)
        if item.operator not in OPERATORS_BY_KIND[kind]:
            raise _invalid(
                f"operator {item.operator!r} is not available for {item.dimension!r}",
                dimension=item.dimension,
                operator=item.operator,
                available=sorted(OPERATORS_BY_KIND[kind]),
            )
        values = _values_for(kind, item.dimension, item.operator, item.values)
        predicate = _build(kind, item.dimension, item.operator, values)
        compiled.append(CompiledFilter(item.dimension, item.operator, values, predicate))
    return tuple(compiled)


@attrs.frozen
class SortSpec:
    """Sort fields with their direction; ties are always broken by ``id`` ascending."""

    keys: tuple[tuple[str, bool], ...]  # (field, descending)

    @property
    def text(self) -> str:
        """The canonical ``sort`` text, e.g. ``-created_at,id``."""
        return ",".join(("-" if desc else "") + field for field, desc in self.keys)


DEFAULT_SORT = SortSpec((("created_at", False),))


def compile_sort(text: str) -> SortSpec:
    """Return the sort for a ``sort`` parameter; empty means :data:`DEFAULT_SORT`.

    Raises :class:`QueryError` (``invalid_sort``) for a syntax error or an
    unknown field.
    """
    try:
        keys = parse_sort(text)
    except GrammarError as exc:
        raise QueryError("invalid_sort", exc.message, {"sort": text, **exc.data}) from exc
    for field, _ in keys:
        if field not in FIELDS:
            raise QueryError("invalid_sort", f"unknown sort field {field!r}", {"field": field})
    return SortSpec(keys) if keys else DEFAULT_SORT


def _sort_value(value: object) -> tuple[Any, ...]:
    """Return a key that orders any JSON value: null first, then numbers, text, lists, objects."""
    if value is None:
        return (0,)
    if isinstance(value, (bool, int, float)):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, list):
        return (3, tuple(_sort_value(v) for v in value))
    if isinstance(value, dict) and "name" in value:
        return (2, str(value["name"]))  # users sort by name
    return (4, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def record_key(spec: SortSpec, record: Record) -> tuple[tuple[Any, ...], str]:
    """Return the raw sort values of ``record`` and its id (what a cursor stores)."""
    return tuple(record.get(field) for field, _ in spec.keys), str(record.get("id"))


def compare_keys(spec: SortSpec, a: tuple[Sequence[Any], str], b: tuple[Sequence[Any], str]) -> int:
    """Return -1, 0 or 1 as record key ``a`` sorts before, with, or after ``b``."""
    for (_, descending), left, right in zip(spec.keys, a[0], b[0], strict=True):
        lk, rk = _sort_value(left), _sort_value(right)
        if lk != rk:
            return (1 if lk > rk else -1) * (-1 if descending else 1)
    return (a[1] > b[1]) - (a[1] < b[1])


SortItem = tuple[int, tuple[tuple[Any, ...], ...], str]


def sort_item(spec: SortSpec, handle: int, record: Record) -> SortItem:
    """Return what :func:`sort_items` needs of one record: handle, sort values, id."""
    values = tuple(_sort_value(record.get(field)) for field, _ in spec.keys)
    return handle, values, str(record.get("id"))


def sort_items(spec: SortSpec, items: list[SortItem]) -> None:
    """Sort items in place by ``spec``, ties by id ascending."""
    items.sort(key=lambda item: item[2])
    # Python's sort is stable, also with reverse=True, so sorting by the
    # last key first leaves the earlier keys in charge.
    for position in reversed(range(len(spec.keys))):
        items.sort(key=lambda item: item[1][position], reverse=spec.keys[position][1])


def encode_cursor(spec: SortSpec, key: tuple[Sequence[Any], str]) -> str:
    """Return the opaque cursor for the position just after the record with ``key``."""
    payload = orjson.dumps([spec.text, list(key[0]), key[1]])
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_cursor(spec: SortSpec, cursor: str) -> tuple[tuple[Any, ...], str]:
    """Return the record key a cursor points after.

    Raises :class:`QueryError` (``invalid_cursor``) for a cursor that is not
    one of ours or was made for another sort.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_text, values, record_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise QueryError("invalid_cursor", "malformed cursor", {"cursor": cursor}) from exc
    if sort_text != spec.text or not isinstance(values, list) or len(values) != len(spec.keys):
        raise QueryError(
            "invalid_cursor",
            "the cursor was made for another sort order",
            {"cursor": cursor, "sort": spec.text},
        )
    return tuple(values), str(record_id)
