"""The converter's fast paths behave exactly like the plain cattrs hooks they replace."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any, Optional

import attr
import attrs
import pytest
from cattrs.gen import make_dict_structure_fn
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import DecodeError, Record
from accutics_async._sansio import converter as _converter
from accutics_async._sansio import generated
from accutics_async._sansio.converter import CONVERTER, structure
from accutics_async._sansio.structuring import structure_items


@attrs.frozen
class Person:
    id: str
    name: str


@attrs.frozen
class Row:
    id: str
    count: int
    ratio: float
    flag: bool
    at: datetime
    owner: Person
    tags: list[str]
    scores: list[float]
    note: str | None
    maybe_count: Optional[int] = None  # noqa: UP045 - the typing spelling is tested too
    later: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Node:
    name: str
    child: Node | None = None


@attrs.frozen
class KwOnly:
    a: str
    b: int = attrs.field(kw_only=True, default=0)


@attrs.frozen
class KeywordBase:
    id: str = attrs.field(kw_only=True)


@attrs.frozen
class AfterKeyword(KeywordBase):
    """A required keyword-only field (from the base) before a positional one."""

    name: str
    count: int = 0


@attrs.define(slots=False)
class AfterKeywordDict(KeywordBase):
    """The same with an instance dict: built by calling the class, not slot by slot."""

    name: str
    count: int = 0


@attrs.define
class AfterKeywordMore(KeywordBase):
    """With fields ``__init__`` takes under another name, or not at all."""

    name: str
    _secret: str = attrs.field(kw_only=True)
    label: str = attrs.field(alias="text", default="")
    cache: int = attrs.field(init=False, default=0)


@attrs.frozen(kw_only=True)
class AllKeywords:
    a: int
    b: str = "b"
    c: datetime


@attrs.frozen
class Private:
    _secret: str


@attr.s(frozen=True)
class Untyped:
    value = attr.ib()


GOOD: dict[str, Any] = {
    "id": "r1",
    "count": 3,
    "ratio": 2,
    "flag": False,
    "at": "2024-05-01T10:00:00Z",
    "owner": {"id": "p1", "name": "Ann", "unknown": 1},
    "tags": ["a", "b"],
    "scores": [1, 2.5],
    "note": None,
    "unknown": {"ignored": True},
}


def reference(cl: type[Any]) -> Any:
    """cattrs' own generated hook on the library's converter: what the fast hook replaces."""
    return make_dict_structure_fn(cl, CONVERTER, _cattrs_detailed_validation=False)


def outcome(hook: Any, value: Any, cl: type[Any]) -> Any:
    try:
        return ("ok", hook(value, cl))
    except Exception as exc:
        return ("error", type(exc))


def test_fast_hook_is_used_and_equals_the_reference() -> None:
    hook = CONVERTER.get_structure_hook(Row)
    assert hook.__code__.co_filename.startswith("<accutics_async structure")
    fast = hook(GOOD, Row)
    assert fast == reference(Row)(GOOD, Row)
    assert fast.ratio == 2.0
    assert isinstance(fast.ratio, float)
    assert fast.scores == [1.0, 2.5]
    assert all(isinstance(s, float) for s in fast.scores)
    assert fast.at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert fast.owner == Person("p1", "Ann")
    assert fast.maybe_count is None
    assert fast.later is None
    assert fast.extra == {}


def test_a_list_is_copied_not_shared() -> None:
    value = dict(GOOD)
    row = structure(value, Row)
    assert row.tags == value["tags"]
    assert row.tags is not value["tags"]


@pytest.mark.parametrize(
    ("key", "bad", "error"),
    [
        ("id", 7, TypeError),
        ("count", True, TypeError),
        ("count", "7", TypeError),
        ("ratio", "1.5", TypeError),
        ("flag", 1, TypeError),
        ("at", 1714557600, TypeError),
        ("at", "yesterday", ValueError),
        ("owner", {"id": "p"}, KeyError),
        ("tags", ["a", 1], TypeError),
        ("scores", [1, "2"], TypeError),
        ("note", 5, TypeError),
    ],
)
def test_wrong_json_types_raise_like_the_reference(key: str, bad: Any, error: type) -> None:
    value = {**GOOD, key: bad}
    assert outcome(CONVERTER.get_structure_hook(Row), value, Row) == ("error", error)
    assert outcome(reference(Row), value, Row) == ("error", error)


def test_missing_required_key_is_a_key_error() -> None:
    value = {k: v for k, v in GOOD.items() if k != "count"}
    with pytest.raises(KeyError):
        structure(value, Row)


def test_optional_fields_given_or_null() -> None:
    row = structure({**GOOD, "maybe_count": 4, "later": None, "note": "n"}, Row)
    assert (row.maybe_count, row.later, row.note) == (4, None, "n")
    with pytest.raises(TypeError):
        structure({**GOOD, "maybe_count": False}, Row)


def test_recursive_class() -> None:
    node = structure({"name": "a", "child": {"name": "b", "child": None}}, Node)
    assert node == Node("a", Node("b"))


RECURSIVE_MODULE = """
from __future__ import annotations
import attrs

@attrs.frozen
class Node:
    name: str
    child: Node | None = None

@attrs.frozen
class Chain:
    name: str
    next: Chain | None
    head: Node
"""


def _at_depth(frames: int, call: Any) -> Any:
    return call() if frames == 0 else _at_depth(frames - 1, call)


def test_a_recursive_class_is_built_the_same_at_any_call_depth(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hooks are cached per class, so each depth gets fresh classes: a module
    # of the user's, its annotations resolved from its own globals. The hook
    # of a class that contains itself used to be found by recursing until
    # the stack ran out, and where the RecursionError landed depended on the
    # caller's depth: about one depth in seven cached a hook that could not
    # read the class at all (StructureHandlerNotFoundError for 'str').
    monkeypatch.syspath_prepend(str(tmp_path))
    node = {"name": "a", "child": {"name": "b", "child": None}}
    value = {"name": "c1", "next": {"name": "c2", "next": None, "head": node}, "head": node}
    for depth in range(24):
        name = f"user_models_{depth}"
        (tmp_path / f"{name}.py").write_text(RECURSIVE_MODULE)
        module = importlib.import_module(name)
        try:
            chain = _at_depth(depth, partial(structure, value, module.Chain))
        finally:
            del sys.modules[name]
        assert chain.next.head.child == module.Node("b"), depth
        assert chain.next.next is None


def test_a_recursive_class_builds_its_hook_once() -> None:
    # Not once per stack frame until the interpreter's limit: a re-entry
    # into the class being built is looked up when used, as cattrs does.
    @attrs.frozen
    class Tree:
        name: str
        children: list[Tree] = attrs.field(factory=list)

    attrs.resolve_types(Tree, localns={"Tree": Tree})
    built = []
    original = generated.make_item_hook

    def spy(cl: Any, hooks: Any) -> Any:
        built.append(cl)
        return original(cl, hooks)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generated, "make_item_hook", spy)
        patch.setattr(_converter, "make_item_hook", spy)
        tree = structure({"name": "r", "children": [{"name": "c"}]}, Tree)
    assert tree == Tree("r", [Tree("c")])
    assert built.count(Tree) <= 2


@pytest.mark.parametrize(
    ("cl", "value", "expected"),
    [
        (KwOnly, {"a": "x", "b": 2}, KwOnly("x", b=2)),
        (KwOnly, {"a": "x"}, KwOnly("x")),
        (AfterKeyword, {"id": "i", "name": "n"}, AfterKeyword("n", id="i")),
        (AfterKeyword, {"id": "i", "name": "n", "count": 2}, AfterKeyword("n", 2, id="i")),
        (AfterKeywordDict, {"id": "i", "name": "n", "count": 2}, AfterKeywordDict("n", 2, id="i")),
        (
            AfterKeywordMore,
            {"id": "i", "name": "n", "_secret": "s", "label": "l", "cache": 5},
            AfterKeywordMore("n", id="i", secret="s", text="l"),
        ),
        (
            AfterKeywordMore,
            {"id": "i", "name": "n", "_secret": "s"},
            AfterKeywordMore("n", id="i", secret="s"),
        ),
        (Private, {"_secret": "s"}, Private("s")),
        (
            AllKeywords,
            {"a": 1, "c": "2024-05-01T10:00:00Z"},
            AllKeywords(a=1, c=datetime(2024, 5, 1, 10, tzinfo=timezone.utc)),
        ),
    ],
)
def test_keyword_only_fields_are_structured_by_the_fast_hooks(
    cl: Any, value: dict[str, Any], expected: Any, by_the_fast_hooks: Callable[..., None]
) -> None:
    # cattrs' own hook without detailed validation cannot even be made for a
    # required keyword-only field before a positional one (its generated
    # call puts a positional argument after a keyword one): the library's
    # hooks pass keyword-only fields by keyword, item by item and per page.
    # A field is read under its name and passed under its alias, as cattrs
    # does; one __init__ does not take is not read (cache stays 0).
    assert structure(value, cl) == expected
    by_the_fast_hooks(cl, value, expected)


@pytest.mark.parametrize(
    ("value", "error", "field"),
    [
        ({"name": "n"}, KeyError, "id (missing)"),
        ({"id": 1, "name": "n"}, TypeError, "id"),
        ({"id": "i", "name": "n", "count": "2"}, TypeError, "count"),
    ],
)
@pytest.mark.parametrize("cl", [AfterKeyword, AfterKeywordDict])
def test_keyword_only_fields_refuse_what_does_not_fit(
    cl: Any, value: dict[str, Any], error: type, field: str
) -> None:
    with pytest.raises(error):
        structure(value, cl)
    with pytest.raises(
        DecodeError, match=rf"item 1 does not fit {cl.__name__}: field '{re.escape(field)}'"
    ):
        structure_items([{"id": "i", "name": "n"}, value], cl, "u")


@pytest.mark.parametrize(
    ("cl", "value", "expected"),
    [
        # A field without a type: cattrs passes its value through.
        (Untyped, {"value": {"any": "thing"}}, Untyped({"any": "thing"})),
    ],
)
def test_classes_the_fast_hook_does_not_take_still_work(
    cl: Any, value: dict[str, Any], expected: Any
) -> None:
    assert not generated.fast_attrs(cl)
    assert structure(value, cl) == expected


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["x", "2024-01-02T03:04:05Z", "2024-01-02", "not a date"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@given(st.dictionaries(st.sampled_from([*GOOD, "maybe_count", "later"]), json_values))
def test_fast_hook_matches_the_reference_on_any_json(changes: dict[str, Any]) -> None:
    value = {**GOOD, **changes}
    fast = outcome(CONVERTER.get_structure_hook(Row), value, Row)
    assert fast == outcome(reference(Row), value, Row)


# -- Record --------------------------------------------------------------------


def record_value(**extra: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "created_at": "2024-01-01T00:00:00Z",
        "input_b": 1,
        "output_x": "o",
        "match_status": "matched",
        "input_a": None,
        "author": {"id": "u"},
        **extra,
    }


def test_record_splits_inputs_and_outputs_in_order() -> None:
    record = structure(record_value(), Record)
    assert list(record.inputs.items()) == [("input_b", 1), ("input_a", None)]
    assert record.outputs == {"output_x": "o"}
    assert record.created_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert record.updated_at is None
    assert record.author == {"id": "u"}
    single = structure({"id": "r2", "input_only": 5}, Record)
    assert single.inputs == {"input_only": 5}
    assert single.outputs == {}


@pytest.mark.parametrize(
    "bad",
    [{"id": 1}, {"created_at": 5}, {"author": 3}, {"submission": 1}, {"match_status": []}],
)
def test_record_refuses_wrong_types(bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        structure(record_value(**bad), Record)


def test_record_needs_an_object_with_an_id() -> None:
    with pytest.raises(TypeError):
        structure(["id"], Record)
    with pytest.raises(KeyError):
        structure({"input_a": 1}, Record)


def test_record_shapes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_converter, "_SHAPES", {})
    monkeypatch.setattr(_converter, "_MAX_SHAPES", 3)
    for n in range(10):
        record = structure({"id": "r", f"input_{n}": n}, Record)
        assert record.inputs == {f"input_{n}": n}
    assert len(_converter._SHAPES) == 3
