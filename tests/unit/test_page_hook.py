"""A page of ``model=`` items is structured by one generated loop, exactly as item by item.

The per-item hook is the reference (``test_converter`` holds it to cattrs'
own): the page hook gives the same values, and for anything it does not
take, ``structure_items`` gives the same value or the same ``DecodeError``
as structuring the page item by item did.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import DecodeError, Record, register_structure_hook
from accutics_async._sansio import converter, generated, structuring
from accutics_async._sansio.converter import CONVERTER, page_hook
from accutics_async._sansio.structuring import structure_items
from accutics_async.testing import generate_record, generate_records


@attrs.frozen
class Person:
    id: str
    name: str
    seen: datetime


@attrs.frozen
class Item:
    id: str
    count: int
    ratio: float
    flag: bool
    at: datetime
    until: datetime
    owner: Person
    tags: list[str]
    scores: list[float]
    note: str | None
    maybe: int | None = None
    later: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    backup: Person | None = None


@attrs.frozen
class Node:
    name: str
    child: Node | None = None


@attrs.frozen
class Chain:
    name: str
    next: Chain | None
    head: Node


@attrs.frozen
class SelfFactory:
    a: str
    b: str = attrs.field(default=attrs.Factory(lambda self: self.a * 2, takes_self=True))


def good(n: int = 0) -> dict[str, Any]:
    return {
        "id": f"r{n}",
        "count": n,
        "ratio": 0.5,
        "flag": True,
        "at": "2024-05-01T10:00:00Z",
        "until": "2024-06-01T00:00:00Z",
        "owner": {"id": "p1", "name": "Ann", "seen": "2020-01-02T03:04:05Z", "x": 1},
        "tags": ["a", "b"],
        "scores": [1.5, 2.5],
        "note": None,
        "unknown": {"ignored": True},
    }


def item_hook(cl: Any) -> Any:
    return CONVERTER.get_structure_hook(cl)


def spied(cl: Any) -> tuple[Any, list[Any]]:
    """A page hook for ``cl`` that records what it hands to a hook: ``(hook name, value)``.

    The item hook is ``"item"``; the field hooks are the ``h...`` names the
    generated code calls them by (``ha3`` the fourth field's, ...).
    """
    handed: list[Any] = []

    def spy(name: str, hook: Any) -> Any:
        def call(value: Any, model: Any) -> Any:
            handed.append((name, value))
            return hook(value, model)

        return call

    page = generated.make_page_hook(cl, spy("item", item_hook(cl)), converter._HOOKS)
    names = page.__globals__
    for name in [name for name in names if name.startswith("h")]:
        names[name] = spy(name, names[name])
    return page, handed


def outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except DecodeError as exc:
        return ("DecodeError", str(exc), exc.kind)
    except Exception:
        return ("error",)


def item_by_item(data: list[Any], model: Any) -> Any:
    """``structure_items`` as it was before the page hook: one item hook call per item."""
    hook = item_hook(model)
    return [hook(value, model) for value in data]


def test_the_page_hook_is_generated_and_takes_the_usual_shape_itself() -> None:
    page, handed = spied(Item)
    assert page.__code__.co_filename == f"<accutics_async page {__name__}.Item>"
    data = [good(0), good(1), {**good(2), "maybe": 3, "later": None, "backup": good(0)["owner"]}]
    items = page(data)
    assert [name for name, _ in handed] == ["ha13"]  # only the optional nested object's hook
    assert items == item_by_item(data, Item)
    first = items[0]
    assert first.at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert first.owner == Person("p1", "Ann", datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert (first.maybe, first.later, first.extra, first.backup) == (None, None, {}, None)
    assert items[2].backup == first.owner
    assert first.tags == data[0]["tags"]
    assert first.tags is not data[0]["tags"]  # copied, as the list hook does
    assert first.extra is not items[1].extra  # the factory is called per item


OWNER = {"id": "p", "name": "n", "seen": "2020-01-02T03:04:05+01:00"}


@pytest.mark.parametrize(
    ("change", "hook"),
    [
        ({"ratio": 2}, "item"),  # an int for a float: converted by the item hook
        ({"at": "2024-05-01T10:00:00.5Z"}, "item"),  # not the API's own shape
        ({"at": "2024-05-01 10:00"}, "item"),
        ({"scores": [1, 2.5]}, "ha8"),  # the list hook converts, the rest stays inline
        ({"owner": OWNER}, "ha6"),  # the nested object's hook reads the offset
        ({"note": "n"}, None),
        ({"note": 5}, "ha9"),  # the field's hook (it raises)
        ({"maybe": 2, "later": "2024-05-01T10:00:00Z"}, "ha11"),
        ({"backup": OWNER}, "ha13"),
    ],
)
def test_other_shapes_are_left_to_the_reference_hooks(
    change: dict[str, Any], hook: str | None
) -> None:
    page, handed = spied(Item)
    data = [good(0), {**good(1), **change}]
    assert outcome(lambda: page(data)) == outcome(lambda: item_by_item(data, Item))
    assert [name for name, _ in handed] == ([hook] if hook else [])


def test_a_float_list_of_ints_and_a_nested_offset_are_read_as_the_item_hook_reads_them() -> None:
    owner = {"id": "p", "name": "n", "seen": "2020-01-02T03:04:05+01:00"}
    [item] = structure_items([{**good(), "scores": [1, 2.5], "owner": owner}], Item, "GET x")
    assert item.scores == [1.0, 2.5]
    assert all(type(score) is float for score in item.scores)
    assert item.owner.seen.utcoffset() is not None
    assert item.owner.seen.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]


def test_recursive_classes_are_built_inline_only_to_a_bounded_depth() -> None:
    node = {"name": "a", "child": {"name": "b", "child": None}}
    data = [{"name": "c1", "next": {"name": "c2", "next": None, "head": node}, "head": node}]
    assert structure_items(data, Chain, "GET x") == item_by_item(data, Chain)
    assert structure_items([node], Node, "GET x") == [Node("a", Node("b"))]


def test_a_factory_taking_self_is_left_to_the_item_hook() -> None:
    assert structure_items([{"a": "x"}, {"a": "y", "b": "z"}], SelfFactory, "GET x") == [
        SelfFactory("x", "xx"),
        SelfFactory("y", "z"),
    ]


@attrs.frozen
class Tag:  # only this test registers a hook for it (hooks are process-wide)
    value: str


@attrs.frozen
class Tagged:
    id: str
    tag: Tag


def test_a_hook_registered_later_applies_to_the_next_page() -> None:
    data = [{"id": "1", "tag": {"value": "v"}}]
    assert structure_items(data, Tagged, "GET x") == [Tagged("1", Tag("v"))]
    register_structure_hook(Tag, lambda value: Tag(f"hooked {value['value']}"))
    assert structure_items(data, Tagged, "GET x") == [Tagged("1", Tag("hooked v"))]


def test_a_page_hook_that_fails_spuriously_still_gives_the_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(model: Any, item: Any) -> Any:
        def page(data: list[Any]) -> list[Any]:
            raise RuntimeError("not this page")

        return page

    monkeypatch.setattr(structuring, "page_hook", broken)
    data = [good(0), good(1)]
    assert structure_items(data, Item, "GET x") == item_by_item(data, Item)


def test_page_hooks_are_cached_per_model_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = item_hook(Item)
    assert page_hook(Item, hook) is page_hook(Item, hook)
    monkeypatch.setattr(converter, "_PAGE_HOOKS", {})
    monkeypatch.setattr(converter, "_MAX_SHAPES", 1)
    page_hook(Item, hook)
    page_hook(Node, item_hook(Node))
    assert list(converter._PAGE_HOOKS) == [Item]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": "7"}, r"item 1 does not fit Item: field 'count': TypeError"),
        ({"at": "2024-13-01T10:00:00Z"}, r"item 1 does not fit Item: field 'at': ValueError"),
        ({"owner": {"id": "p"}}, r"item 1 .* field 'owner.name \(missing\)': KeyError"),
        ({"tags": ["a", 1]}, r"item 1 .* field 'tags\[1\]': TypeError"),
        # Not a list at all: a string became its letters, an object its keys.
        ({"tags": "email"}, r"item 1 .* field 'tags': TypeError.*expected list, got str"),
        ({"tags": {"a": 1}}, r"item 1 .* field 'tags': TypeError.*expected list, got dict"),
        ({"scores": "1.5"}, r"item 1 .* field 'scores': TypeError.*expected list, got str"),
        (
            {"backup": {"id": 1, "name": "n", "seen": "x"}},
            r"item 1 .* field 'backup.id': TypeError",
        ),
    ],
)
def test_a_bad_item_is_named_as_before(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        structure_items([good(0), {**good(1), **change}], Item, "GET x")
    assert info.value.kind == "bad_item"


def test_a_missing_required_key_is_named() -> None:
    value = {k: v for k, v in good().items() if k != "until"}
    with pytest.raises(DecodeError, match=r"item 0 .* field 'until \(missing\)': KeyError"):
        structure_items([value], Item, "GET x")


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["x", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5Z", "2024-13-02T03:04:05Z", "20:1"]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
owner_changes = st.dictionaries(st.sampled_from(["id", "name", "seen"]), json_values, max_size=2)
item_changes = st.dictionaries(
    st.sampled_from([*good(), "maybe", "later", "extra", "backup"]), json_values, max_size=3
)


@st.composite
def pages(draw: st.DrawFn) -> list[Any]:
    data = []
    for n in range(draw(st.integers(1, 3))):
        value = {**good(n), **draw(item_changes)}
        if draw(st.booleans()):
            value["owner"] = {**good()["owner"], **draw(owner_changes)}
        if draw(st.booleans()):
            value.pop(draw(st.sampled_from(sorted(value))))
        data.append(value)
    return data


@given(pages())
def test_the_page_hook_gives_what_the_item_hook_gives_or_raises(data: list[Any]) -> None:
    page, _ = spied(Item)
    expected = outcome(lambda: item_by_item(data, Item))
    got = outcome(lambda: page(data))
    assert got == expected or (got[0] == expected[0] == "error")


@given(pages())
def test_structure_items_gives_the_same_value_or_error_as_item_by_item(data: list[Any]) -> None:
    fast = outcome(lambda: structure_items(data, Item, "GET x"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            structuring, "page_hook", lambda model, item: lambda d: item_by_item(d, model)
        )
        slow = outcome(lambda: structure_items(data, Item, "GET x"))
    assert fast == slow
    assert fast[0] in ("ok", "DecodeError")


# -- Record, the library's own record class ---------------------------------------


def test_a_page_of_records_is_read_as_record_by_record() -> None:
    data = list(generate_records(50, seed=3))
    assert page_hook(Record, item_hook(Record)) is converter._structure_record_page
    records = structure_items(data, Record, "GET x")
    assert records == item_by_item(data, Record)
    assert records[0].inputs == {k: v for k, v in data[0].items() if k.startswith("input_")}
    assert records[0].created_at is not None
    assert records[0].created_at.tzinfo is timezone.utc


record_changes = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "created_at",
            "updated_at",
            "author",
            "updater",
            "submission",
            "match_status",
            "input_a",
            "output_b",
        ]
    ),
    json_values,
    max_size=3,
)


@given(st.lists(record_changes, min_size=1, max_size=3), st.booleans())
def test_records_give_the_same_value_or_error_as_item_by_item(
    changes: list[dict[str, Any]], drop_id: bool
) -> None:
    data: list[Any] = [{**generate_record(5, n), **change} for n, change in enumerate(changes)]
    if drop_id:
        del data[-1]["id"]
    fast = outcome(lambda: structure_items(data, Record, "GET x"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            structuring, "page_hook", lambda model, item: lambda d: item_by_item(d, model)
        )
        slow = outcome(lambda: structure_items(data, Record, "GET x"))
    assert fast == slow
    assert fast[0] in ("ok", "DecodeError")


def test_a_record_that_is_not_an_object_is_named() -> None:
    with pytest.raises(DecodeError, match=r"item 1 does not fit Record: TypeError: record"):
        structure_items([generate_record(1, 0), ["id"]], Record, "GET x")


# -- building instances slot by slot ------------------------------------------


@attrs.define
class Mutable:
    id: str
    count: int = 0


@attrs.frozen
class Validated:
    id: str = attrs.field(validator=attrs.validators.min_len(2))


@attrs.frozen
class Converted:
    id: str = attrs.field(converter=str.upper)


@attrs.frozen
class PostInit:
    id: str
    size: int = 0

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.id))


@attrs.frozen(cache_hash=True)
class CachedHash:
    id: str


@attrs.frozen(slots=False)
class DictClass:
    id: str


@attrs.frozen
class OwnNew:
    made: ClassVar[int] = 0
    id: str

    def __new__(cls, *args: Any, **kwargs: Any) -> OwnNew:
        cls.made += 1
        return super().__new__(cls)


@attrs.define
class OwnSetattr:
    id: str

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value.strip() if isinstance(value, str) else value)


class LowerCasing:
    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value.lower() if isinstance(value, str) else value)


@attrs.define
class InheritedSetattr(LowerCasing):
    id: str


def page_source(model: Any) -> str:
    page = page_hook(model, item_hook(model))
    return "".join(generated.linecache.getlines(page.__code__.co_filename))


def test_a_plain_slotted_class_is_built_slot_by_slot_into_the_same_instances() -> None:
    assert "new(cla)" in page_source(Item)  # the fast construction is the one under test
    assert "new(cla6_)" in page_source(Item)  # and the nested object's too
    data = [good(0), good(1)]
    items, reference = page_hook(Item, item_hook(Item))(data), item_by_item(data, Item)
    assert items == reference
    assert [hash(i.owner) for i in items] == [hash(i.owner) for i in reference]
    assert [repr(i) for i in items] == [repr(i) for i in reference]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        items[0].id = "x"  # type: ignore[misc]
    [mutable] = structure_items([{"id": "m"}], Mutable, "GET x")
    assert "new(cla)" in page_source(Mutable)
    mutable.count = 3  # a mutable class stays mutable
    assert mutable == Mutable("m", 3)


@pytest.mark.parametrize(
    "model",
    [Validated, Converted, PostInit, CachedHash, DictClass, OwnNew, OwnSetattr, InheritedSetattr],
)
def test_a_class_whose_init_does_more_is_called(model: Any) -> None:
    assert generated._slot_setters(model) is None
    source = page_source(model)
    assert "def structure_page" in source  # a generated page hook, calling the class
    assert "new(cla)" not in source


def test_what_the_called_init_does_still_happens() -> None:
    assert structure_items([{"id": "abc"}], Converted, "GET x") == [Converted("ABC")]
    assert structure_items([{"id": "abc"}], PostInit, "GET x")[0].size == 3
    assert structure_items([{"id": " a "}], OwnSetattr, "GET x")[0].id == "a"
    assert structure_items([{"id": "ABC"}], InheritedSetattr, "GET x")[0].id == "abc"
    before = OwnNew.made
    assert structure_items([{"id": "abc"}], OwnNew, "GET x") == [OwnNew("abc")]
    assert OwnNew.made == before + 2  # the item's, and the one compared with
    [cached] = structure_items([{"id": "abc"}], CachedHash, "GET x")
    assert hash(cached) == hash(CachedHash("abc"))
    with pytest.raises(DecodeError, match="id"):
        structure_items([{"id": "x"}], Validated, "GET x")
