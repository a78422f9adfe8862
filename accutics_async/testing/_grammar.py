"""The fake server's own reading of the ``search`` and ``sort`` parameters.

Written from API_BASICS.md alone and on purpose independent of the client's
parser (:mod:`accutics_async._sansio.search`): the fake is the oracle the client is
tested against, so a shared parser would hide any bug in it. Nothing here is
imported from the client.

What API_BASICS.md says, and how it is read:

- ``search`` ("Searching/filtering") is filters in the format
  ``[dimension]:[operator]:[value]``, separated by ``;``; all must match.
  Some operators take several values separated by ``,``; ``exists`` and
  ``missing`` take "no value after the operator (``field:exists``).
  Supplying a value is invalid". Operators are the table's names and their
  aliases.
- ``sort`` ("Sorting") is dimensions separated by ``,``, each ascending
  unless prefixed by ``-``.

Where the documentation is silent, this reading picks:

- A filter splits at its first ``:`` (the dimension) and its second (the
  operator); everything after the second is the value text, since the
  table's own timestamps (``2024-01-01T00:00:00Z``) contain ``:``.
- The comparisons (``gt``, ``gte``, ``lt``, ``lte``) take exactly one value;
  the others that take values take one or more (OR). A trailing ``:`` after
  ``exists``/``missing`` supplies an (empty) value, so it is invalid too.
- Empty parts are errors, never skipped: an empty filter (``a:eq:x;``), an
  empty value (``a:eq:x,,y``, ``a:eq:``), an empty dimension, an empty sort
  key (``a,``) or a bare ``-``. Only the empty parameter as a whole is
  accepted: no filters, or the default sort.
- Operator names match ignoring ASCII case (``EQ``, ``Has_Any``); nothing
  is trimmed or unescaped (the URL layer has already decoded ``%XX``).
- Dimensions and sort fields are read as given; whether one exists is the
  schema's question (:mod:`._query`), not the grammar's.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Clause", "GrammarError", "parse_search", "parse_sort"]

Arity = Literal["none", "one", "many"]

# API_BASICS.md's operator table, one row each: the name the fake uses, the
# table's "Operator" and "Aliases" columns, and how many values it takes
# ("Multiple ... values" rows and the has* lists: many; exists/missing: none).
_TABLE: tuple[tuple[str, tuple[str, ...], Arity], ...] = (
    ("eq", ("equal", "eq", "equals", "="), "many"),
    ("neq", ("notequal", "neq", "notequals", "!="), "many"),
    ("gt", ("gt", ">"), "one"),
    ("gte", ("gte", ">="), "one"),
    ("lt", ("lt", "<"), "one"),
    ("lte", ("lte", "<="), "one"),
    ("contains", ("contains",), "many"),
    ("beginswith", ("beginswith", "startswith"), "many"),
    ("endswith", ("endswith",), "many"),
    ("exists", ("exists",), "none"),
    ("missing", ("missing",), "none"),
    ("hasany", ("hasany", "has_any"), "many"),
    ("hasall", ("hasall", "has_all"), "many"),
    ("hasnone", ("hasnone", "has_none"), "many"),
)
_OPERATOR = {spelling: name for name, spellings, _ in _TABLE for spelling in spellings}
_ARITY = {name: arity for name, _, arity in _TABLE}


class GrammarError(Exception):
    """A ``search`` or ``sort`` that does not follow the documented format.

    ``data`` says where (the filter or key at fault); the server answers it
    with a 422 error envelope.
    """

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


@attrs.frozen
class Clause:
    """One filter as the server reads it: ``operator`` is always the fake's name for it."""

    dimension: str
    operator: str
    values: tuple[str, ...]


def _operator(spelling: str, text: str) -> str:
    # ASCII-only folding: no non-ASCII character may turn into an operator.
    folded = spelling.lower() if spelling.isascii() else spelling
    name = _OPERATOR.get(folded)
    if name is None:
        raise GrammarError(
            f"unknown operator {spelling!r}; expected one of {', '.join(_ARITY)} or an alias",
            filter=text,
            operator=spelling,
        )
    return name


def _values(name: str, has_value: bool, value_text: str, text: str) -> tuple[str, ...]:
    arity = _ARITY[name]
    if arity == "none":
        if has_value:
            raise GrammarError(f"{name!r} takes no value (write 'dimension:{name}')", filter=text)
        return ()
    if not has_value:
        raise GrammarError(f"{name!r} needs a value after a second ':'", filter=text)
    values = tuple(value_text.split(","))
    if "" in values:
        raise GrammarError(f"empty value in filter {text!r}", filter=text)
    if arity == "one" and len(values) > 1:
        raise GrammarError(f"{name!r} takes one value, got {len(values)}", filter=text)
    return values


def _clause(text: str) -> Clause:
    dimension, has_operator, rest = text.partition(":")
    if not has_operator:
        raise GrammarError(
            f"filter {text!r} has no operator; expected dimension:operator:value", filter=text
        )
    if not dimension:
        raise GrammarError(f"filter {text!r} has an empty dimension", filter=text)
    spelling, has_value, value_text = rest.partition(":")
    name = _operator(spelling, text)
    return Clause(dimension, name, _values(name, bool(has_value), value_text, text))


def parse_search(text: str) -> tuple[Clause, ...]:
    """Return the filters of a ``search`` parameter, all of which must match.

    ``""`` is no filter. Raises :class:`GrammarError` for anything that does
    not follow the documented format (see the module docstring).
    """
    if not text:
        return ()
    clauses = []
    for part in text.split(";"):
        if not part:
            raise GrammarError(f"empty filter in {text!r} (a stray ';')", filter=part)
        clauses.append(_clause(part))
    return tuple(clauses)


def parse_sort(text: str) -> tuple[tuple[str, bool], ...]:
    """Return the keys of a ``sort`` parameter as ``(field, descending)`` pairs.

    ``""`` is no key (the default order). Raises :class:`GrammarError` for
    an empty key or field (``a,,b``, ``-``).
    """
    if not text:
        return ()
    keys = []
    for key in text.split(","):
        descending = key.startswith("-")
        field = key[1:] if descending else key
        if not field:
            raise GrammarError(f"empty sort key {key!r} in {text!r}", key=key)
        keys.append((field, descending))
    return tuple(keys)
