"""The search language: build, parse and validate the ``search`` parameter, no I/O.

API_BASICS.md ("Searching/filtering") defines the ``search`` parameter as
filters ``dimension:operator:value`` joined by ``;`` (all must match), where
some operators take several values joined by ``,`` (any may match), and
``exists``/``missing`` take none. The sort language lives beside it in
:mod:`.sort`.

``F("created_at").gte(when) & F("input_tags").hasany("a", "b")`` builds a
:class:`Search`; ``str(search)`` is its wire form and :meth:`Search.parse`
reads one back. Every malformed input raises :class:`SearchSyntaxError` (a
``ValueError``, never a ``TypeError``) before any request is made.

Choices where API_BASICS.md is silent:

- Operators are matched case-insensitively (``EQ``, ``Has_Any``) and always
  normalised to the canonical name, so ``Search.parse(str(s)) == s``. Both
  the table's names (``equal``, ``notequal``) and its aliases are accepted.
- Parsing is strict: no whitespace is trimmed, and an empty filter (a stray
  or trailing ``;``) or an empty value (``a:eq:x,,y``) is an error. Only the
  empty string as a whole is accepted; it is the empty search.
- A value may contain ``:`` (timestamps do), so a filter is split on its first
  two ``:`` only. A value can never contain ``;`` or ``,``: the wire format
  has no escape for them. Control characters and lone surrogates are refused
  too, since they cannot travel in a URL intact.
- Dimensions are names (:mod:`.wire_text`): non-empty, without ``:``,
  ``;``, ``,``, whitespace or control characters.
- Values given to ``F`` may be ``str``, ``int``, ``float`` (finite),
  ``bool`` (``true``/``false``), ``date`` (``YYYY-MM-DD``), ``UUID`` or a
  timezone-aware ``datetime``. The table's timestamp rule ("ISO 8601 Zulu",
  "sub-second fraction is stripped") is applied: the datetime is converted to
  UTC and written ``2024-01-01T00:00:00Z``. A naive datetime is refused, since
  guessing its zone would silently shift the filter.
- An empty ``Search`` and an empty search string mean "no parameter":
  :func:`to_wire` returns ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Literal, TypeAlias
from uuid import UUID

import attrs

from ..errors import SearchSyntaxError
from .wire_text import UNSAFE_CHARS, check_name, require_str

__all__ = ["F", "Filter", "Search", "to_wire"]

#: What ``F``'s operator methods accept as a value.
Value: TypeAlias = str | int | float | bool | date | datetime | UUID

# API_BASICS.md's operator table: canonical name -> (how many values it
# takes, its other spellings). "many" where the table says "Multiple values =
# OR" or shows a list; "none" for exists/missing ("No value after the
# operator"); "one" for the comparisons. The table's first column says
# "equal"/"notequal" where the aliases say eq/neq, so both are accepted.
_Arity = Literal["none", "one", "many"]
_OPERATORS: dict[str, tuple[_Arity, tuple[str, ...]]] = {
    "eq": ("many", ("equal", "equals", "=")),
    "neq": ("many", ("notequal", "notequals", "!=")),
    "gt": ("one", (">",)),
    "gte": ("one", (">=",)),
    "lt": ("one", ("<",)),
    "lte": ("one", ("<=",)),
    "contains": ("many", ()),
    "beginswith": ("many", ("startswith",)),
    "endswith": ("many", ()),
    "exists": ("none", ()),
    "missing": ("none", ()),
    "hasany": ("many", ("has_any",)),
    "hasall": ("many", ("has_all",)),
    "hasnone": ("many", ("has_none",)),
}
_ARITY = {name: arity for name, (arity, _) in _OPERATORS.items()}
_ALIASES = {
    spelling: name for name, (_, aliases) in _OPERATORS.items() for spelling in (name, *aliases)
}

_BAD_VALUE_CHAR = re.compile(f"[;,{UNSAFE_CHARS}]")


def _canonical_operator(operator: str) -> str:
    """Return the canonical name for any documented spelling of ``operator``."""
    require_str(operator, "operator")
    canonical = _ALIASES.get(operator.lower())
    if canonical is None:
        raise SearchSyntaxError(
            f"unknown operator {operator!r}; expected one of {', '.join(_ARITY)} "
            "or a documented alias (equals, =, !=, >=, startswith, has_any, ...)"
        )
    return canonical


def _format_value(value: object) -> str:
    """Return the wire text of one filter value.

    Raises :class:`SearchSyntaxError` for a naive ``datetime``, a non-finite
    float or an unsupported type. The text is not checked for ``;``/``,``
    here; :class:`Filter` does that.
    """
    # Order matters: bool is an int, datetime is a date. The base-class calls
    # (str.__str__, int(...)) give the plain value of str/int enums too.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        try:
            return str(int(value))
        except ValueError:  # over the interpreter's limit on digits
            raise SearchSyntaxError(f"integer of {value.bit_length()} bits is too long") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SearchSyntaxError(f"non-finite number {value!r} cannot be searched for")
        return repr(float(value))
    if isinstance(value, datetime):
        return _format_timestamp(value)
    if isinstance(value, date):
        # Date inputs are searched with timestamps, in Zulu (API_BASICS.md):
        # the day's first instant.
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, UUID):
        return str(value)
    raise SearchSyntaxError(
        f"unsupported search value {value!r} of type {type(value).__name__}; "
        "use str, int, float, bool, date, UUID or a timezone-aware datetime"
    )


def _format_timestamp(value: datetime) -> str:
    # API_BASICS.md: timestamps must be "ISO 8601 Zulu (...Z)" and the
    # "sub-second fraction is stripped"; we strip it here so what is sent is
    # exactly what the server compares against.
    if value.utcoffset() is None:
        raise SearchSyntaxError(
            f"naive datetime {value.isoformat()!r} refused: give it a timezone "
            "(e.g. tzinfo=timezone.utc) so the filter means the instant you intend"
        )
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        raise SearchSyntaxError(f"datetime {value.isoformat()!r} is out of range in UTC") from None
    return utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _to_values(values: Iterable[Value]) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)):
        raise SearchSyntaxError(
            f"filter values must be a sequence of values, not a single {type(values).__name__}"
        )
    try:
        items = tuple(values)
    except TypeError:
        raise SearchSyntaxError(
            f"filter values must be a sequence, not {type(values).__name__}"
        ) from None
    return tuple(_format_value(item) for item in items)


def _check_values(
    instance: Filter, _: attrs.Attribute[tuple[str, ...]], values: tuple[str, ...]
) -> None:
    # A validator, not a converter, so that the operator is already known.
    where = f"{instance.operator!r} on {instance.dimension!r}"
    arity = _ARITY[instance.operator]
    if arity == "none" and values:
        raise SearchSyntaxError(f"{where} takes no value, got {_show(values)}")
    if arity != "none" and not values:
        raise SearchSyntaxError(f"{where} needs a value")
    if arity == "one" and len(values) > 1:
        raise SearchSyntaxError(
            f"{where} takes exactly one value, got {len(values)}: {_show(values)}"
        )
    for position, value in enumerate(values, start=1):
        if not value:
            raise SearchSyntaxError(f"value {position} for {where} is empty")
        bad = _BAD_VALUE_CHAR.search(value)
        if bad:
            why = "the wire format cannot escape it" if bad.group() in ";," else "unsafe in a URL"
            raise SearchSyntaxError(f"value {value!r} for {where} contains {bad.group()!r}: {why}")


def _show(values: tuple[str, ...]) -> str:
    return ", ".join(repr(value) for value in values)


@attrs.frozen
class Filter:
    """One filter, ``dimension:operator:value,...``; ``str()`` gives that wire form.

    ``operator`` is always the canonical name (an alias given to the
    constructor is normalised) and ``values`` always strings. The constructor
    validates everything, so an invalid ``Filter`` cannot exist; it raises
    :class:`SearchSyntaxError`. Usually built with :class:`F`.
    """

    dimension: str = attrs.field(converter=check_name)
    operator: str = attrs.field(converter=_canonical_operator)
    values: tuple[str, ...] = attrs.field(default=(), converter=_to_values, validator=_check_values)

    def __str__(self) -> str:
        if not self.values:
            return f"{self.dimension}:{self.operator}"
        return f"{self.dimension}:{self.operator}:{','.join(self.values)}"

    def __and__(self, other: Filter | Search) -> Search:
        if isinstance(other, Filter):
            return Search((self, other))
        if isinstance(other, Search):
            return Search((self, *other.filters))
        return NotImplemented


def _to_filters(filters: Iterable[Filter]) -> tuple[Filter, ...]:
    try:
        items = tuple(filters)
    except TypeError:
        raise SearchSyntaxError(f"a Search takes Filters, not {type(filters).__name__}") from None
    for item in items:
        if not isinstance(item, Filter):
            raise SearchSyntaxError(f"a Search takes Filters, not {type(item).__name__}: {item!r}")
    return items


@attrs.frozen
class Search:
    """Filters that must all match; ``str()`` gives the ``search`` parameter.

    Combine with ``&``. ``Search()`` (no filters) is the empty search, whose
    wire form is ``""``.
    """

    filters: tuple[Filter, ...] = attrs.field(default=(), converter=_to_filters)

    def __str__(self) -> str:
        return ";".join(str(f) for f in self.filters)

    def __and__(self, other: Filter | Search) -> Search:
        if isinstance(other, Filter):
            return Search((*self.filters, other))
        if isinstance(other, Search):
            return Search(self.filters + other.filters)
        return NotImplemented

    @classmethod
    def parse(cls, text: str) -> Search:
        """Read a ``search`` parameter, normalising operator aliases.

        Returns the empty ``Search`` for ``""``. Raises
        :class:`SearchSyntaxError` for anything malformed, naming the filter.
        """
        require_str(text, "search")
        if not text:
            return cls()
        filters: list[Filter] = []
        for segment in text.split(";"):
            if not segment:
                raise SearchSyntaxError(f"empty filter in {text!r} (a stray ';'?)")
            # Only the first two ':' separate: a value such as a timestamp
            # (2024-01-01T00:00:00Z) contains ':' itself.
            parts = segment.split(":", 2)
            if len(parts) < 2:
                raise SearchSyntaxError(
                    f"filter {segment!r} has no operator; expected dimension:operator:value"
                )
            values = tuple(parts[2].split(",")) if len(parts) == 3 else ()
            try:
                filters.append(Filter(parts[0], parts[1], values))
            except SearchSyntaxError as exc:
                raise SearchSyntaxError(f"{exc} (in filter {segment!r})") from exc
        return cls(filters)


@attrs.frozen(repr=False)
class F:
    """Start a filter on ``dimension``: ``F("created_at").gte(when)``.

    Each method is one operator of API_BASICS.md and returns a :class:`Filter`;
    it raises :class:`SearchSyntaxError` for a bad value (see the module
    docstring). Every method takes ``*values`` so that a wrong count is a
    ``SearchSyntaxError`` too, never a ``TypeError``: ``gt``/``gte``/``lt``/
    ``lte`` take exactly one, ``exists``/``missing`` none, the others one or
    more, matching any of them (OR).
    """

    dimension: str = attrs.field(converter=check_name)

    def __repr__(self) -> str:
        return f"F({self.dimension!r})"

    def _make(self, operator: str, values: tuple[Value, ...]) -> Filter:
        return Filter(self.dimension, operator, values)

    def eq(self, *values: Value) -> Filter:
        """Equal to any of ``values``."""
        return self._make("eq", values)

    def neq(self, *values: Value) -> Filter:
        """Equal to none of ``values``."""
        return self._make("neq", values)

    def gt(self, *values: Value) -> Filter:
        """Greater than the one value given (exactly one)."""
        return self._make("gt", values)

    def gte(self, *values: Value) -> Filter:
        """Greater than or equal to the one value given (exactly one)."""
        return self._make("gte", values)

    def lt(self, *values: Value) -> Filter:
        """Less than the one value given (exactly one)."""
        return self._make("lt", values)

    def lte(self, *values: Value) -> Filter:
        """Less than or equal to the one value given (exactly one)."""
        return self._make("lte", values)

    def contains(self, *values: Value) -> Filter:
        """Contains any of ``values`` as a substring."""
        return self._make("contains", values)

    def beginswith(self, *values: Value) -> Filter:
        """Begins with any of ``values``."""
        return self._make("beginswith", values)

    def endswith(self, *values: Value) -> Filter:
        """Ends with any of ``values``."""
        return self._make("endswith", values)

    def exists(self, *values: Value) -> Filter:
        """Has a non-null, populated value (takes no value: :class:`SearchSyntaxError`)."""
        return self._make("exists", values)

    def missing(self, *values: Value) -> Filter:
        """Is null, empty or absent (takes no value: :class:`SearchSyntaxError`)."""
        return self._make("missing", values)

    def hasany(self, *values: Value) -> Filter:
        """Has at least one of ``values`` (multi- or single-select)."""
        return self._make("hasany", values)

    def hasall(self, *values: Value) -> Filter:
        """Has every one of ``values`` (multi-select only)."""
        return self._make("hasall", values)

    def hasnone(self, *values: Value) -> Filter:
        """Has none of ``values``."""
        return self._make("hasnone", values)


def to_wire(search: Search | Filter | str | None) -> str | None:
    """Return the ``search`` parameter for ``search``, or ``None`` to send none.

    A plain string is parsed first, so a malformed one raises
    :class:`SearchSyntaxError` before any request, and is then sent in
    canonical form. An empty search gives ``None``.
    """
    if search is None:
        return None
    if isinstance(search, str):
        search = Search.parse(search)
    elif isinstance(search, Filter):
        search = Search((search,))
    elif isinstance(search, F):
        raise SearchSyntaxError(f"{search!r} has no operator; call one, e.g. {search!r}.eq(...)")
    elif not isinstance(search, Search):
        raise SearchSyntaxError(
            f"search must be a Search, Filter or str, not {type(search).__name__}"
        )
    return str(search) or None
