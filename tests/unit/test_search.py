"""Tests for the search and sort languages in accutics_async._sansio.search and ._sort."""

from __future__ import annotations

import enum
import string
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async._sansio.search import F, Filter, Search, to_wire
from accutics_async._sansio.sort import SortKey, format_sort, parse_sort
from accutics_async.errors import AccuticsError, SearchSyntaxError

UTC = timezone.utc

# canonical operator -> every documented spelling (API_BASICS.md operator table)
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
MANY = ("eq", "neq", "contains", "beginswith", "endswith", "hasany", "hasall", "hasnone")
ONE = ("gt", "gte", "lt", "lte")
NONE = ("exists", "missing")


# --- building -----------------------------------------------------------------


def test_contract_example() -> None:
    s = F("created_at").gte(datetime(2024, 1, 1, tzinfo=UTC)) & F("input_tags").hasany("foo", "bar")
    assert str(s) == "created_at:gte:2024-01-01T00:00:00Z;input_tags:hasany:foo,bar"
    assert isinstance(s, Search)


@pytest.mark.parametrize("operator", MANY)
def test_multi_value_operators(operator: str) -> None:
    method = getattr(F("dim"), operator)
    assert str(method("x")) == f"dim:{operator}:x"
    assert str(method("x", "y", "z")) == f"dim:{operator}:x,y,z"
    assert method("x", "y").values == ("x", "y")
    assert method("x").operator == operator


@pytest.mark.parametrize("operator", ONE)
def test_single_value_operators(operator: str) -> None:
    f = getattr(F("n"), operator)(5)
    assert str(f) == f"n:{operator}:5"
    assert f == Filter("n", operator, ("5",))


@pytest.mark.parametrize("operator", NONE)
def test_no_value_operators(operator: str) -> None:
    f = getattr(F("input_segment"), operator)()
    assert str(f) == f"input_segment:{operator}"
    assert f.values == ()
    assert str(Search((f,))) == f"input_segment:{operator}"


def test_f_has_exactly_the_contract_methods() -> None:
    public = {name for name in dir(F) if not name.startswith("_")}
    assert public == set(SPELLINGS) | {"dimension"}


class Colour(str, enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("plain text", "plain text"),
        ("a:b", "a:b"),
        ("  spaced  ", "  spaced  "),
        ("ünïcödé ✓", "ünïcödé ✓"),
        (42, "42"),
        (-7, "-7"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        # Date inputs hold and are searched by Zulu timestamps (API_BASICS.md);
        # the plain date was refused by the fake server as no timestamp.
        (date(2024, 6, 1), "2024-06-01T00:00:00Z"),
        (UUID("550e8400-e29b-41d4-a716-446655440000"), "550e8400-e29b-41d4-a716-446655440000"),
        (Colour.RED, "red"),
        (Size.BIG, "3"),
    ],
)
def test_value_formatting(value: Any, wire: str) -> None:
    assert F("d").eq(value).values == (wire,)


@pytest.mark.parametrize(
    ("when", "wire"),
    [
        (datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T00:00:00Z"),
        (datetime(2024, 1, 1, 12, 30, 45, 999999, tzinfo=UTC), "2024-01-01T12:30:45Z"),
        (
            datetime(2024, 1, 1, 2, 0, 0, 500, tzinfo=timezone(timedelta(hours=2))),
            "2024-01-01T00:00:00Z",
        ),
        (
            datetime(2024, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
            "2025-01-01T01:00:00Z",
        ),
        (
            datetime(2024, 3, 1, 0, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2024-02-29T18:45:00Z",
        ),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00Z"),
    ],
)
def test_timestamps_are_utc_zulu_without_fraction(when: datetime, wire: str) -> None:
    assert str(F("created_at").gt(when)) == f"created_at:gt:{wire}"
    assert F("created_at").eq(when, when).values == (wire, wire)


def test_naive_datetime_refused() -> None:
    with pytest.raises(SearchSyntaxError, match="naive datetime"):
        F("created_at").gte(datetime(2024, 1, 1))


def test_datetime_out_of_utc_range_refused() -> None:
    edge = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(SearchSyntaxError, match="out of range"):
        F("created_at").gte(edge)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [1],
        ("a",),
        {"a": 1},
        b"bytes",
        object(),
        Decimal("1.5"),
        float("nan"),
        float("inf"),
        -float("inf"),
        10**5000,  # over the interpreter's digit limit: a bare ValueError before
    ],
    ids=lambda value: "huge int" if isinstance(value, int) and value > 10**100 else repr(value),
)
def test_unsupported_values_are_syntax_errors(value: Any) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        F("d").eq(value)
    assert not isinstance(info.value, TypeError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AccuticsError)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: F("d").gt(1, 2), "exactly one value"),
        (lambda: F("d").gte(), "needs a value"),
        (lambda: F("d").lt(1, 2, 3), "exactly one value"),
        (lambda: F("d").lte(), "needs a value"),
        (lambda: F("d").exists("x"), "value"),
        (lambda: F("d").missing("x"), "value"),
        (lambda: F("d").eq(), "value"),
        (lambda: F("d").hasall(), "value"),
    ],
)
def test_a_wrong_number_of_values_is_a_syntax_error_not_a_type_error(
    make: Any, message: str
) -> None:
    with pytest.raises(SearchSyntaxError, match=message):
        make()


def test_filter_constructor_normalises_and_validates() -> None:
    assert Filter("d", ">=", [1]) == Filter("d", "gte", ("1",))
    assert Filter("d", "Has_Any", ("a", "b")).operator == "hasany"
    assert Filter("d", "exists").values == ()
    with pytest.raises(SearchSyntaxError, match="single str"):
        Filter("d", "eq", "abc")
    with pytest.raises(SearchSyntaxError, match="sequence"):
        Filter("d", "eq", 5)  # type: ignore[arg-type]
    with pytest.raises(SearchSyntaxError, match="operator must be a string"):
        Filter("d", None, ("x",))  # type: ignore[arg-type]
    with pytest.raises(SearchSyntaxError, match="takes exactly one value"):
        attrs.evolve(F("d").gt(1), values=("1", "2"))


# --- combining, equality, repr --------------------------------------------------


def test_and_combinations() -> None:
    a, b, c, d = F("a").eq(1), F("b").exists(), F("c").lt(3), F("d").hasnone("x")
    assert a & b == Search((a, b))
    assert a & Search((b, c)) == Search((a, b, c))
    assert Search((a, b)) & c == Search((a, b, c))
    assert Search((a, b)) & Search((c, d)) == Search((a, b, c, d))
    assert (a & b) & (c & d) == a & (b & (c & d))
    assert str(a & b & c & d) == "a:eq:1;b:exists;c:lt:3;d:hasnone:x"
    assert Search() & a == Search((a,))


def test_and_with_other_types_is_not_supported() -> None:
    with pytest.raises(TypeError):
        F("a").eq(1) & "b:exists"  # type: ignore[operator]


def test_search_rejects_non_filters() -> None:
    with pytest.raises(SearchSyntaxError, match="takes Filters"):
        Search(("a:eq:1",))  # type: ignore[arg-type]
    with pytest.raises(SearchSyntaxError, match="takes Filters"):
        Search(5)  # type: ignore[arg-type]


def test_hashable_comparable_and_repr() -> None:
    assert F("a") == F("a")
    assert F("a") != F("b")
    assert len({F("a"), F("a"), F("b")}) == 2
    assert len({F("a").eq(1), F("a").eq("1"), Filter("a", "=", ("1",))}) == 1
    assert len({F("a").eq(1) & F("b").exists(), Search.parse("a:equals:1;b:EXISTS")}) == 1
    assert F("a").eq(1) != F("a").neq(1)
    assert repr(F("created_at")) == "F('created_at')"
    assert repr(F("a").eq(1)) == "Filter(dimension='a', operator='eq', values=('1',))"
    assert "Filter(dimension='a'" in repr(Search((F("a").eq(1),)))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        F("a").eq(1).operator = "neq"  # type: ignore[misc]


def test_empty_search() -> None:
    assert str(Search()) == ""
    assert Search.parse("") == Search()
    assert Search().filters == ()


# --- parsing --------------------------------------------------------------------


def test_parse_contract_example() -> None:
    s = Search.parse("created_at:>=:2024-01-01T00:00:00Z;input_segment:exists")
    assert s.filters == (
        Filter("created_at", "gte", ("2024-01-01T00:00:00Z",)),
        Filter("input_segment", "exists", ()),
    )
    assert str(s) == "created_at:gte:2024-01-01T00:00:00Z;input_segment:exists"


@pytest.mark.parametrize(
    "text",
    [
        "record_id:eq:e1eec316-d74a-3755-88fa-046e1b50aee1",
        "id:eq:550e8400-e29b-41d4-a716-446655440000",
        "input_medium:neq:paid_search",
        "created_at:gt:2024-01-01T00:00:00Z",
        "created_at:gte:2024-01-01T00:00:00Z;created_at:lt:2024-02-01T00:00:00Z",
        "input_start_date:lt:2024-06-01T00:00:00Z",
        "created_at:lte:2024-12-31T23:59:59Z",
        "output_utm_campaign:contains:alpha",
        "submission:beginswith:Q1",
        "submission:endswith:2024",
        "input_segment:exists",
        "input_segment:missing",
        "input_tags:hasany:foo,bar",
        "input_tags:hasall:foo,bar",
        "match_status:hasnone:unmatched,out_of_sync",
    ],
)
def test_documented_examples_round_trip(text: str) -> None:
    assert str(Search.parse(text)) == text


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [(s, c) for c, spellings in SPELLINGS.items() for s in spellings],
)
def test_every_alias_normalises(spelling: str, canonical: str) -> None:
    suffix = "" if canonical in NONE else ":v"
    for variant in {spelling, spelling.upper(), spelling.title()}:
        (f,) = Search.parse(f"dim:{variant}{suffix}").filters
        assert f.operator == canonical
        assert f.dimension == "dim"
        assert f.values == (() if canonical in NONE else ("v",))
        assert str(f) == f"dim:{canonical}{suffix}"


def test_value_may_contain_colons() -> None:
    (f,) = Search.parse("created_at:gte:2024-01-01T00:00:00Z").filters
    assert f.values == ("2024-01-01T00:00:00Z",)
    (g,) = Search.parse("url:eq:https://x.example:8080/a,b:c").filters
    assert g.values == ("https://x.example:8080/a", "b:c")


def test_parse_keeps_order_and_duplicates() -> None:
    s = Search.parse("b:eq:1;a:eq:2;b:eq:1")
    assert [f.dimension for f in s.filters] == ["b", "a", "b"]


# --- refusals -------------------------------------------------------------------

PARSE_REFUSALS = [
    # (text, a fragment the message must contain)
    ("name:like:x", "unknown operator 'like'"),
    ("name:==:x", "unknown operator '=='"),
    ("name::x", "unknown operator ''"),
    ("input_segment:exists:x", "'exists' on 'input_segment' takes no value"),
    ("input_segment:missing:x,y", "'missing' on 'input_segment' takes no value"),
    ("input_segment:exists:", "takes no value"),
    ("a:eq", "'eq' on 'a' needs a value"),
    ("a:hasany", "'hasany' on 'a' needs a value"),
    ("a:gt", "'gt' on 'a' needs a value"),
    ("a:eq:", "value 1 for 'eq' on 'a' is empty"),
    ("a:gt:1,2", "'gt' on 'a' takes exactly one value, got 2"),
    ("a:gte:1,2", "'gte' on 'a' takes exactly one value"),
    ("a:lt:1,2,3", "'lt' on 'a' takes exactly one value, got 3"),
    ("a:<=:1,2", "'lte' on 'a' takes exactly one value"),
    ("a:eq:x,,y", "value 2 for 'eq' on 'a' is empty"),
    ("a:eq:x,", "value 2 for 'eq' on 'a' is empty"),
    ("a:eq:,x", "value 1 for 'eq' on 'a' is empty"),
    (":eq:x", "empty dimension"),
    ("a b:eq:x", "dimension 'a b' contains ' '"),
    ("a,b:eq:x", "dimension 'a,b' contains ','"),
    ("a:eq:x\ny", "contains '\\n'"),
    ("a:eq:x\ry", "contains '\\r'"),
    ("a:eq:x\x00y", "contains '\\x00'"),
    ("a\tb:eq:x", "contains '\\t'"),
    ("a", "filter 'a' has no operator"),
    ("a:eq:x;b", "filter 'b' has no operator"),
    ("a:eq:x;", "empty filter"),
    (";a:eq:x", "empty filter"),
    ("a:eq:x;;b:exists", "empty filter"),
    (";", "empty filter"),
    (" ", "filter ' ' has no operator"),
    (" :eq:x", "dimension ' ' contains ' '"),
    ("a:eq:x; b:exists", "dimension ' b' contains ' '"),
]


@pytest.mark.parametrize(("text", "fragment"), PARSE_REFUSALS)
def test_parse_refusals(text: str, fragment: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        Search.parse(text)
    assert fragment in str(info.value)


def test_parse_error_names_the_filter() -> None:
    with pytest.raises(SearchSyntaxError, match=r"\(in filter 'b:gt:1,2'\)"):
        Search.parse("a:eq:1;b:gt:1,2")


@pytest.mark.parametrize("text", [None, b"a:eq:x", 5, ["a:eq:x"]], ids=repr)
def test_parse_non_string(text: Any) -> None:
    with pytest.raises(SearchSyntaxError, match="search must be a string"):
        Search.parse(text)


BUILD_REFUSALS = [
    (lambda: F("a").eq(), "'eq' on 'a' needs a value"),
    (lambda: F("a").hasall(), "'hasall' on 'a' needs a value"),
    (lambda: F("a").eq("x,y"), "contains ','"),
    (lambda: F("a").contains("x;y"), "contains ';'"),
    (lambda: F("a").gt("1,2"), "contains ','"),
    (lambda: F("a").eq("x", ""), "value 2 for 'eq' on 'a' is empty"),
    (lambda: F("a").eq("line\nbreak"), "contains '\\n'"),
    (lambda: F("a").eq("cr\r"), "contains '\\r'"),
    (lambda: F("a").eq("nul\x00"), "contains '\\x00'"),
    (lambda: F("a").eq("del\x7f"), "contains '\\x7f'"),
    (lambda: F("a").eq("c1\x85"), "contains '\\x85'"),
    (lambda: F("a").eq("half\ud800"), "contains '\\ud800'"),
    (lambda: F(""), "empty dimension"),
    (lambda: F("a:b"), "dimension 'a:b' contains ':'"),
    (lambda: F("a;b"), "dimension 'a;b' contains ';'"),
    (lambda: F("a\n"), "contains '\\n'"),
    (lambda: F(None), "dimension must be a string"),  # type: ignore[arg-type]
    (lambda: F(3), "dimension must be a string"),  # type: ignore[arg-type]
    (lambda: Filter("a", "exists", ("x",)), "'exists' on 'a' takes no value, got 'x'"),
    (lambda: Filter("a", "nope", ("x",)), "unknown operator 'nope'"),
]


@pytest.mark.parametrize(("build", "fragment"), BUILD_REFUSALS)
def test_build_refusals(build: Any, fragment: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        build()
    assert fragment in str(info.value)


def test_single_value_methods_take_exactly_one_argument() -> None:
    # Enforced by the signature; the Filter check backs it for direct use.
    with pytest.raises(SearchSyntaxError, match="takes exactly one value"):
        Filter("a", "gt", (1, 2))
    with pytest.raises(SearchSyntaxError, match="needs a value"):
        Filter("a", "lte", ())


# --- to_wire --------------------------------------------------------------------


def test_to_wire() -> None:
    assert to_wire(None) is None
    assert to_wire("") is None
    assert to_wire(Search()) is None
    assert to_wire(F("a").eq(1)) == "a:eq:1"
    assert to_wire(F("a").eq(1) & F("b").missing()) == "a:eq:1;b:missing"
    assert to_wire("a:=:1;b:STARTSWITH:x") == "a:eq:1;b:beginswith:x"
    assert to_wire("created_at:>=:2024-01-01T00:00:00Z") == "created_at:gte:2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("search", "fragment"),
    [
        ("a:eq", "needs a value"),
        ("a:eq:1;", "empty filter"),
        (F("a"), "F('a') has no operator"),
        (5, "not int"),
        (b"a:eq:1", "not bytes"),
    ],
)
def test_to_wire_refusals(search: Any, fragment: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        to_wire(search)
    assert fragment in str(info.value)


# --- sort -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "wire"),
    [
        (None, None),
        ("", None),
        ([], None),
        ("sort_id", "sort_id"),
        ("-sort_id", "-sort_id"),
        ("-created_at,id", "-created_at,id"),
        (["-created_at", "id"], "-created_at,id"),
        (("a", "-b", "c"), "a,-b,c"),
        ([SortKey("created_at", descending=True), "id"], "-created_at,id"),
        (SortKey("id"), "id"),
        (SortKey("id", descending=True), "-id"),
    ],
)
def test_format_sort(sort: Any, wire: str | None) -> None:
    assert format_sort(sort) == wire


def test_parse_sort() -> None:
    assert parse_sort("-created_at,id") == (
        SortKey("created_at", descending=True),
        SortKey("id", descending=False),
    )
    (key,) = parse_sort("sort_id")
    assert key.field == "sort_id"
    assert key.descending is False
    assert parse_sort("") == ()
    assert str(SortKey("x", descending=True)) == "-x"
    assert str(SortKey("x")) == "x"
    assert len({SortKey("x"), SortKey("x"), SortKey("x", True)}) == 2


SORT_REFUSALS = [
    ("-", "empty sort field"),
    ("--a", "sort field '-a' starts with '-'"),
    ("+a", "sort field '+a' starts with '+'"),
    ("a,,b", "empty sort key"),
    ("a,", "empty sort key"),
    (",a", "empty sort key"),
    ("a, b", "sort field ' b' contains ' '"),
    ("a b", "contains ' '"),
    ("a:b", "contains ':'"),
    ("a;b", "contains ';'"),
    ("a\n", "contains '\\n'"),
    ("a\x00", "contains '\\x00'"),
]


@pytest.mark.parametrize(("text", "fragment"), SORT_REFUSALS)
def test_sort_refusals(text: str, fragment: str) -> None:
    for call in (parse_sort, format_sort):
        with pytest.raises(SearchSyntaxError) as info:
            call(text)
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("sort", "fragment"),
    [
        (["a,b"], "contains ','"),
        ([""], "empty sort key"),
        (["-"], "empty sort field"),
        ([1], "sort key must be a string"),
        ([None], "sort key must be a string"),
        (5, "not int"),
        (b"id", "not bytes"),
        ({"id"}, "not set"),
    ],
)
def test_format_sort_refusals(sort: Any, fragment: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        format_sort(sort)
    assert fragment in str(info.value)


def test_sort_key_refusals() -> None:
    with pytest.raises(SearchSyntaxError, match="descending must be a bool"):
        SortKey("a", descending="yes")  # type: ignore[arg-type]
    with pytest.raises(SearchSyntaxError, match="empty sort field"):
        SortKey("")
    with pytest.raises(SearchSyntaxError, match="sort must be a string"):
        parse_sort(None)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------

dimensions = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20)
wire_values = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=";,"),
    min_size=1,
    max_size=20,
)


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    dimension = draw(dimensions)
    operator = draw(st.sampled_from(sorted(SPELLINGS)))
    if operator in NONE:
        values: list[str] = []
    elif operator in ONE:
        values = [draw(wire_values)]
    else:
        values = draw(st.lists(wire_values, min_size=1, max_size=4))
    return Filter(dimension, operator, values)


searches = st.lists(filters(), max_size=5).map(Search)


@given(searches)
def test_round_trip(search: Search) -> None:
    text = str(search)
    assert Search.parse(text) == search
    assert str(Search.parse(text)) == text
    assert to_wire(text) == (text or None)


@given(st.lists(st.tuples(filters(), st.data()), min_size=1, max_size=5))
def test_aliases_parse_to_canonical(drawn: list[tuple[Filter, st.DataObject]]) -> None:
    parts = []
    for f, data in drawn:
        spelling = data.draw(st.sampled_from(SPELLINGS[f.operator]))
        spelling = data.draw(st.sampled_from([spelling, spelling.upper(), spelling.title()]))
        tail = f":{','.join(f.values)}" if f.values else ""
        parts.append(f"{f.dimension}:{spelling}{tail}")
    expected = Search(f for f, _ in drawn)
    assert Search.parse(";".join(parts)) == expected


structural = st.text(alphabet=st.sampled_from(list("ab_:;,=<>!- \n\x00EQeqxist")), max_size=30)


@given(st.one_of(st.text(), structural))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        result = Search.parse(text)
    except SearchSyntaxError:
        return
    assert isinstance(result, Search)
    assert Search.parse(str(result)) == result


@given(st.one_of(st.text(), structural))
def test_parse_sort_never_raises_anything_else(text: str) -> None:
    try:
        keys = parse_sort(text)
    except SearchSyntaxError:
        return
    assert format_sort(text) == (",".join(str(k) for k in keys) or None)


@given(
    st.lists(st.tuples(dimensions.filter(lambda d: d[0] not in "-+"), st.booleans()), max_size=5)
)
def test_sort_round_trip(pairs: list[tuple[str, bool]]) -> None:
    keys = tuple(SortKey(field, descending) for field, descending in pairs)
    text = format_sort(list(keys))
    assert parse_sort(text or "") == keys
    assert format_sort([str(k) for k in keys]) == text


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    )
)
def test_any_aware_datetime_becomes_zulu(when: datetime) -> None:
    (wire,) = F("t").gte(when).values
    parsed = datetime.strptime(wire, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert parsed == when.astimezone(UTC).replace(microsecond=0)
    assert wire.endswith("Z")
    assert "." not in wire
