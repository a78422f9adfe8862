"""The fake server's own search/sort grammar, and the client's parser checked against it.

The fake (``accutics_async.testing._grammar``) reads the wire format from
API_BASICS.md independently of the client (``accutics_async._sansio.search``), so
here each is the other's oracle: what the client builds or accepts, the
fake reads to the same filters; what the client refuses, the fake refuses
too (a syntax error, or a dimension or sort field that does not exist).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from accutics_async import F, Search, SearchSyntaxError, SortKey, format_sort, parse_sort
from accutics_async.testing._grammar import Clause, GrammarError, parse_search
from accutics_async.testing._grammar import parse_sort as fake_parse_sort
from accutics_async.testing._query import QueryError, compile_search, compile_sort
from accutics_async.testing._schema import FIELDS

UTC = timezone.utc

# API_BASICS.md's operator table: every spelling of each operator.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "eq": ("eq", "equal", "equals", "="),
    "neq": ("neq", "notequal", "notequals", "!="),
    "gt": ("gt", ">"),
    "gte": ("gte", ">="),
    "lt": ("lt", "<"),
    "lte": ("lte", "<="),
    "contains": ("contains",),
    "beginswith": ("beginswith", "startswith"),
    "endswith": ("endswith",),
    "exists": ("exists",),
    "missing": ("missing",),
    "hasany": ("hasany", "has_any"),
    "hasall": ("hasall", "has_all"),
    "hasnone": ("hasnone", "has_none"),
}
NO_VALUE = ("exists", "missing")
ONE_VALUE = ("gt", "gte", "lt", "lte")

Meaning = tuple[tuple[str, str, tuple[str, ...]], ...]


def client_meaning(search: Search) -> Meaning:
    return tuple((f.dimension, f.operator, f.values) for f in search.filters)


def fake_meaning(clauses: tuple[Clause, ...]) -> Meaning:
    return tuple((c.dimension, c.operator, c.values) for c in clauses)


def fake_refuses_search(text: str) -> bool:
    """Whether the fake server would refuse ``text`` before looking at any record.

    A syntax error, or a dimension that does not exist; kind checks
    (an operator a dimension does not offer, a value of the wrong form) are
    beyond what the client can know, so they are left out.
    """
    try:
        clauses = parse_search(text)
    except GrammarError:
        return True
    return any(c.dimension not in FIELDS for c in clauses)


# -- the documented examples ---------------------------------------------------

DOCUMENTED = [
    # Every example of API_BASICS.md's "Searching/filtering" section.
    ("record_id:eq:e1eec316-d74a-3755-88fa-046e1b50aee1",
     [("record_id", "eq", ("e1eec316-d74a-3755-88fa-046e1b50aee1",))]),
    ("id:eq:550e8400-e29b-41d4-a716-446655440000",
     [("id", "eq", ("550e8400-e29b-41d4-a716-446655440000",))]),
    ("input_medium:neq:paid_search", [("input_medium", "neq", ("paid_search",))]),
    ("created_at:gt:2024-01-01T00:00:00Z", [("created_at", "gt", ("2024-01-01T00:00:00Z",))]),
    ("created_at:gte:2024-01-01T00:00:00Z;created_at:lt:2024-02-01T00:00:00Z",
     [("created_at", "gte", ("2024-01-01T00:00:00Z",)),
      ("created_at", "lt", ("2024-02-01T00:00:00Z",))]),
    ("input_start_date:lt:2024-06-01T00:00:00Z",
     [("input_start_date", "lt", ("2024-06-01T00:00:00Z",))]),
    ("created_at:lte:2024-12-31T23:59:59Z", [("created_at", "lte", ("2024-12-31T23:59:59Z",))]),
    ("output_utm_campaign:contains:alpha", [("output_utm_campaign", "contains", ("alpha",))]),
    ("submission:beginswith:Q1", [("submission", "beginswith", ("Q1",))]),
    ("submission:endswith:2024", [("submission", "endswith", ("2024",))]),
    ("input_segment:exists", [("input_segment", "exists", ())]),
    ("input_segment:missing", [("input_segment", "missing", ())]),
    ("input_tags:hasany:foo,bar", [("input_tags", "hasany", ("foo", "bar"))]),
    ("input_tags:hasall:foo,bar", [("input_tags", "hasall", ("foo", "bar"))]),
    ("match_status:hasnone:unmatched,out_of_sync",
     [("match_status", "hasnone", ("unmatched", "out_of_sync"))]),
    ("", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DOCUMENTED)
def test_the_fake_reads_every_documented_example(text: str, expected: list[Any]) -> None:
    assert fake_meaning(parse_search(text)) == tuple(expected)
    # The client reads them the same way (the same table, read twice).
    assert client_meaning(Search.parse(text)) == tuple(expected)


@pytest.mark.parametrize(
    ("operator", "spelling"),
    [(name, spelling) for name, spellings in SPELLINGS.items() for spelling in spellings],
)
def test_every_documented_spelling_reads_as_its_operator(operator: str, spelling: str) -> None:
    value = "" if operator in NO_VALUE else ":x"
    for written in (spelling, spelling.upper()):
        (clause,) = parse_search(f"input_tags:{written}{value}")
        assert clause.operator == operator


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("input_segment:exists:vip", "takes no value"),  # "Supplying a value is invalid"
        ("input_segment:missing:", "takes no value"),  # an empty value is still a value
        ("input_medium:eq", "needs a value"),
        ("input_medium:eq:", "empty value"),
        ("input_medium:eq:email,,social", "empty value"),
        ("input_medium:eq:email,", "empty value"),
        ("created_at:gt:2024-01-01T00:00:00Z,2024-02-01T00:00:00Z", "takes one value"),
        ("input_medium:like:email", "unknown operator"),
        ("input_medium:EQUAL_TO:email", "unknown operator"),
        ("input_medium", "no operator"),
        (":eq:x", "empty dimension"),
        ("input_medium:eq:x;", "empty filter"),
        (";input_medium:eq:x", "empty filter"),
        ("input_medium:eq:x;;submission:exists", "empty filter"),
    ],
)
def test_malformed_searches_are_grammar_errors(text: str, where: str) -> None:
    with pytest.raises(GrammarError, match=where):
        parse_search(text)
    # The client refuses every one of them too, before any request.
    with pytest.raises(SearchSyntaxError):
        Search.parse(text)


def test_a_value_keeps_every_colon_after_the_operator() -> None:
    # The table's own timestamps contain ':'; only the first two separate.
    (clause,) = parse_search("created_at:gte:2024-01-01T00:00:00Z")
    assert clause.values == ("2024-01-01T00:00:00Z",)
    (clause,) = parse_search("submission:eq:a:b::c")
    assert clause.values == ("a:b::c",)


def test_the_server_answers_grammar_errors_as_invalid_search() -> None:
    # The 422 envelope's code and data (the HTTP side is in
    # tests/integration/test_fake_server_search.py).
    with pytest.raises(QueryError) as caught:
        compile_search("input_medium:eq:x;;input_segment:exists")
    assert caught.value.code == "invalid_search"
    assert caught.value.data == {"search": "input_medium:eq:x;;input_segment:exists", "filter": ""}
    with pytest.raises(QueryError) as caught:
        compile_search("input_medium:like:x")
    assert caught.value.data["operator"] == "like"
    assert caught.value.data["filter"] == "input_medium:like:x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("created_at", (("created_at", False),)),
        ("-created_at", (("created_at", True),)),
        ("-created_at,id", (("created_at", True), ("id", False))),
        ("", ()),
    ],
)
def test_the_fake_reads_documented_sorts(text: str, expected: Any) -> None:
    assert fake_parse_sort(text) == expected


@pytest.mark.parametrize("text", ["created_at,", ",id", "created_at,,id", "-", "id,-"])
def test_empty_sort_keys_are_grammar_errors(text: str) -> None:
    with pytest.raises(GrammarError, match="empty sort key"):
        fake_parse_sort(text)
    with pytest.raises(QueryError) as caught:
        compile_sort(text)
    assert caught.value.code == "invalid_sort"
    assert caught.value.data["sort"] == text


@pytest.mark.parametrize("text", ["--created_at", "+created_at", " id", "id "])
def test_other_prefixes_are_unknown_sort_fields(text: str) -> None:
    # Only '-' is documented; anything else is part of the name, which no
    # field has, so the server refuses it as it refuses any unknown field.
    with pytest.raises(QueryError, match="unknown sort field") as caught:
        compile_sort(text)
    assert caught.value.code == "invalid_sort"


# -- differential: what the client builds, the fake reads the same ----------

_TEXT = st.text(
    # No ';' or ',' (no escape exists for them); no control characters or
    # lone surrogates, which the client refuses as unsafe in a URL.
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=";,"),
    min_size=1,
    max_size=12,
)
_ZONES = st.builds(timezone, st.integers(-23 * 60, 23 * 60).map(lambda m: timedelta(minutes=m)))
VALUES = st.one_of(
    _TEXT,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=_ZONES),
    st.uuids(),
)
NAMES = st.sampled_from(sorted(FIELDS)) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_.]{0,10}", fullmatch=True
)


@st.composite
def built_filters(draw: st.DrawFn) -> Any:
    operator = draw(st.sampled_from(sorted(SPELLINGS)))
    if operator in NO_VALUE:
        values: list[Any] = []
    elif operator in ONE_VALUE:
        values = [draw(VALUES)]
    else:
        values = draw(st.lists(VALUES, min_size=1, max_size=3))
    return getattr(F(draw(NAMES)), operator)(*values)


@given(st.lists(built_filters(), min_size=1, max_size=4))
@example([F("created_at").gte(datetime(2024, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC))])
@example([F("input_start_date").lt(date(2024, 6, 1)), F("input_segment").exists()])
def test_the_fake_reads_what_the_client_builds(filters: list[Any]) -> None:
    search = Search(filters)
    assert fake_meaning(parse_search(str(search))) == client_meaning(search)


# -- differential: texts, accepted and refused alike -----------------------

# Pieces of searches: real and unknown dimensions, every spelling (and
# case variants, which both sides accept), bad operators, values with ':'
# and separators. Control characters are left out: the client refuses them
# in values, the fake (the documentation says nothing) reads them literally.
_DIMENSIONS = st.sampled_from(["submission", "input_tags", "created_at"]) | st.sampled_from(
    ["nope", "", "in put", "a,b", "ä"]
)
_OPERATORS = [
    *(s for spellings in SPELLINGS.values() for s in spellings),
    "EQ", "Has_Any", "STARTSWITH", "like", "", "eq ", "=="
]  # fmt: skip
_VALUE_PIECES = ["x", "Q1", "2024-01-01T00:00:00Z", "a:b", "", " ", "%_", "foo,bar"]


@st.composite
def search_texts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = draw(_DIMENSIONS) + ":" + draw(st.sampled_from(_OPERATORS))
        if draw(st.booleans()):
            part += ":" + ",".join(draw(st.lists(st.sampled_from(_VALUE_PIECES), max_size=3)))
        parts.append(part)
    return ";".join(parts)


# Short texts over the separators and a few letters: every odd corner
# (stray ':', ';', ',' anywhere) at character level.
CHARACTER_TEXTS = st.lists(
    st.sampled_from(["id", "eq", "exists", "gt", ":", ";", ",", "x", " ", "-"]), max_size=8
).map("".join)


def check_agreement(text: str) -> None:
    """Assert that the client and the fake agree on ``text`` (see the module docstring)."""
    try:
        search = Search.parse(text)
    except SearchSyntaxError:
        assert fake_refuses_search(text), f"the client refuses {text!r}, the fake accepts it"
        return
    assert fake_meaning(parse_search(text)) == client_meaning(search)
    # ... and what the client sends for it (canonical operators) reads the same.
    assert fake_meaning(parse_search(str(search))) == client_meaning(search)


_SUFFIXES = ["", ":", ":x", ":x:y", ":x,y", ":x,,y", ":,x", ":x,"]


def test_client_and_fake_agree_on_every_single_filter_shape() -> None:
    # Exhaustive over one filter: every operator spelling (and bad ones)
    # with no value, an empty one, one, several and empty pieces.
    dimensions = ["input_tags", "created_at", "nope", "", "in put", "a,b"]
    shapes = [
        f"{dimension}:{operator}{suffix}"
        for dimension in dimensions
        for operator in _OPERATORS
        for suffix in _SUFFIXES
    ]
    for text in (*shapes, *(dimension for dimension in dimensions)):
        check_agreement(text)
    accepted = sum(1 for text in shapes if not fake_refuses_search(text))
    assert 0 < accepted < len(shapes)  # both verdicts were exercised


@given(search_texts() | CHARACTER_TEXTS)
@example("input_tags:EQ:x")
@example("submission:exists:")
@example("a,b:eq:x")
@example("id:eq:x;")
def test_client_and_fake_agree_on_search_texts(text: str) -> None:
    check_agreement(text)


# -- sort ---------------------------------------------------------------------


@given(
    st.lists(
        st.builds(SortKey, NAMES.filter(lambda n: n[0] not in "-+"), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_the_fake_reads_the_sort_the_client_builds(keys: list[SortKey]) -> None:
    wire = format_sort(keys)
    assert wire is not None
    assert fake_parse_sort(wire) == tuple((k.field, k.descending) for k in keys)


_SORT_PIECES = ["created_at", "id", "nope", "-", "+", ",", "", " ", ":"]


@given(st.lists(st.sampled_from(_SORT_PIECES), max_size=6).map("".join))
@example("-created_at,id")
@example("--id")
def test_client_and_fake_agree_on_sort_texts(text: str) -> None:
    try:
        keys = parse_sort(text)
    except SearchSyntaxError:
        try:
            fields = fake_parse_sort(text)
        except GrammarError:
            return
        assert any(field not in FIELDS for field, _ in fields), (
            f"the client refuses {text!r}, the fake accepts it"
        )
        return
    assert fake_parse_sort(text) == tuple((k.field, k.descending) for k in keys)
