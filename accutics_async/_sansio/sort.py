"""The sort language: build, parse and validate the ``sort`` parameter, no I/O.

API_BASICS.md ("Sorting") defines ``sort`` as field names joined by ``,``,
each optionally prefixed by ``-`` for descending order; ascending is the
default. :func:`parse_sort` reads one into :class:`SortKey` values and
:func:`format_sort` writes the canonical wire form. Every malformed input
raises :class:`SearchSyntaxError` (a ``ValueError``, never a ``TypeError``)
before any request is made.

Choices where API_BASICS.md is silent: fields follow the name rules of
:mod:`.wire_text`; a field may not start with ``+`` or a second ``-``;
an empty key (a stray ``,``) is an error; an empty sort means "no
parameter", so :func:`format_sort` returns ``None`` for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..errors import SearchSyntaxError
from .wire_text import check_name, require_str

__all__ = ["SortKey", "format_sort", "parse_sort"]


def _check_descending(_: SortKey, __: attrs.Attribute[bool], descending: object) -> None:
    if not isinstance(descending, bool):
        raise SearchSyntaxError(f"descending must be a bool, not {type(descending).__name__}")


def _check_sort_field(field: str) -> str:
    check_name(field, "sort field")
    if field[0] in "-+":
        raise SearchSyntaxError(
            f"sort field {field!r} starts with {field[0]!r}; use a single leading '-' "
            "for descending order and nothing for ascending"
        )
    return field


@attrs.frozen
class SortKey:
    """One ``sort`` key: ``field``, descending when ``descending``; ``str()`` is the wire form."""

    field: str = attrs.field(converter=_check_sort_field)
    descending: bool = attrs.field(default=False, validator=_check_descending)

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def _parse_sort_key(text: str) -> SortKey:
    require_str(text, "sort key")
    if not text:
        raise SearchSyntaxError("empty sort key (a stray ','?)")
    # API_BASICS.md ("Sorting"): ascending by default, "-" prefix reverses.
    if text.startswith("-"):
        return SortKey(text[1:], descending=True)
    return SortKey(text)


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """Read a ``sort`` parameter such as ``"-created_at,id"``.

    Returns ``()`` for ``""``. Raises :class:`SearchSyntaxError` for an empty
    key, a bad field name or a doubled prefix.
    """
    require_str(text, "sort")
    if not text:
        return ()
    return tuple(_parse_sort_key(key) for key in text.split(","))


def format_sort(sort: str | SortKey | Sequence[str | SortKey] | None) -> str | None:
    """Return the ``sort`` parameter for ``sort``, or ``None`` to send none.

    Accepts ``"-created_at,id"``, a ``SortKey``, or a sequence of keys
    (``["-created_at", "id"]``), each validated; an empty sort gives ``None``.
    Raises :class:`SearchSyntaxError` for a malformed key or another type.
    """
    if sort is None:
        return None
    checked: object = sort  # bytes is a Sequence too, but never a sort
    if isinstance(checked, (bytes, bytearray)) or not isinstance(checked, (str, SortKey, Sequence)):
        raise SearchSyntaxError(
            f"sort must be a str, SortKey or a sequence of them, not {type(checked).__name__}"
        )
    if isinstance(sort, str):
        keys = parse_sort(sort)
    elif isinstance(sort, SortKey):
        keys = (sort,)
    else:
        keys = tuple(k if isinstance(k, SortKey) else _parse_sort_key(k) for k in sort)
    return ",".join(str(key) for key in keys) or None
