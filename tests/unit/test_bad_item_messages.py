"""A ``model=`` item that does not fit names the innermost field at fault, and its type.

Through optional fields, lists and dicts too: ``child.count``, not ``child``;
``leaves[1].count``, not ``leaves``; and a type without a hook by its name.
Generic classes: ``test_generic_models.py``.
"""

from __future__ import annotations

from typing import Any, List  # noqa: UP035 - a bare typing.List is tested

import attrs
import pytest

from accutics_async import DecodeError, register_structure_hook
from accutics_async._sansio.converter import CONVERTER
from accutics_async._sansio.structuring import structure_items


class Unknown:
    """A field type nobody registered a hook for."""


@attrs.frozen
class Leaf:
    name: str
    count: int


@attrs.frozen
class Outer:
    id: str
    child: Leaf | None = None
    leaves: list[Leaf] = attrs.field(factory=list)
    by_key: dict[str, Leaf] = attrs.field(factory=dict)


@attrs.frozen
class Inner:
    name: str
    unknown: Unknown | None = None


@attrs.frozen
class OptionalInner:
    id: str
    inner: Inner | None = None


@attrs.frozen
class ListOfInner:
    id: str
    inners: list[Inner] = attrs.field(factory=list)


@attrs.frozen
class Tree:
    name: str
    children: list[Tree] = attrs.field(factory=list)
    parent: Tree | None = None


def message(data: list[Any], model: type[Any]) -> str:
    with pytest.raises(DecodeError) as info:
        structure_items(data, model, "GET /x")
    assert info.value.kind == "bad_item"
    return str(info.value)


LEAF = {"name": "a", "count": 1}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "1", "child": {"name": "a", "count": "x"}}, "child.count"),
        ({"id": "1", "child": {"name": "a"}}, "child.count (missing)"),
        ({"id": "1", "leaves": [LEAF, {"name": "b", "count": "x"}]}, "leaves[1].count"),
        ({"id": "1", "leaves": [LEAF, 5]}, "leaves[1]"),
        ({"id": "1", "by_key": {"k": LEAF, "j": {"name": 3, "count": 1}}}, "by_key['j'].name"),
        ({"id": "1", "child": LEAF, "leaves": "not a list"}, "leaves"),
    ],
)
def test_a_bad_value_names_the_innermost_field(item: dict[str, Any], field: str) -> None:
    assert f"item 1 does not fit Outer: field {field!r}:" in message([{"id": "0"}, item], Outer)


@attrs.frozen
class TwoBad:
    count: int
    label: str = ""
    leaf: Leaf | None = None


@pytest.mark.parametrize(
    ("item", "field", "why"),
    [
        # The item hook reads the fields with a default first, so it fails on
        # `label`: that is the field named, though `count` is declared first.
        ({"count": "x", "label": 5}, "label", "TypeError: string field: expected str, got int"),
        ({"label": 5}, "label", "TypeError: string field: expected str, got int"),
        ({"label": "l"}, "count (missing)", "KeyError: 'count'"),
        (
            {"count": 1, "label": "l", "leaf": {"name": 5, "count": "y"}},
            "leaf.name",
            "TypeError: string field: expected str, got int",
        ),
    ],
)
def test_the_field_named_is_the_one_whose_failure_is_quoted(
    item: dict[str, Any], field: str, why: str
) -> None:
    with pytest.raises(DecodeError) as info:
        structure_items([item], TwoBad, "GET /x")
    assert str(info.value).endswith(f"item 0 does not fit TwoBad: field {field!r}: {why}")
    cause = info.value.__cause__
    assert cause is not None
    assert f"{type(cause).__name__}: {cause}" == why


def test_a_class_with_a_hook_of_its_own_is_not_looked_into() -> None:
    @attrs.frozen
    class Money:
        amount: int
        currency: str

    @attrs.frozen
    class Price:
        id: str
        money: Money

    # Classes defined here, so that this test's hook changes no other test.
    attrs.resolve_types(Price, localns={"Money": Money})
    # The hook takes "100" for the amount: the default rules for Money's
    # fields would blame the amount's type, which is not what failed.
    register_structure_hook(Money, lambda v: Money(int(v["amount"]), v["currency"]))
    text = message([{"id": "1", "money": {"amount": "1x0", "currency": "EUR"}}], Price)
    assert text.endswith("field 'money': ValueError: invalid literal for int() with base 10: '1x0'")


@attrs.define
class Cached:
    cache: int = attrs.field(init=False, default=0)
    total: int = attrs.field(init=False)
    count: int = 0


def test_a_field_init_does_not_take_is_never_named() -> None:
    # The hook does not read `cache` or `total` (attrs' __init__ sets them),
    # so neither a stray value for one nor its absence is what failed.
    text = message([{"cache": "x", "count": "y"}], Cached)
    assert text.endswith("field 'count': TypeError: integer field: expected int, got str")


@attrs.define
class Deep:
    v: int
    kids: list[Deep] = attrs.Factory(list)


@pytest.mark.parametrize("depth", [50, 400])
def test_an_item_nested_deeper_than_the_walk_can_follow_is_still_a_decode_error(
    depth: int,
) -> None:
    value: dict[str, Any] = {"v": "x"}
    for _ in range(depth):
        value = {"v": 1, "kids": [value]}
    assert "item 0 does not fit Deep:" in message([value], Deep)


def test_an_error_that_cannot_be_shown_is_still_a_decode_error() -> None:
    class Opaque:
        pass

    class Unprintable(ValueError):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @attrs.define
    class Holder:
        opaque: Opaque

    attrs.resolve_types(Holder, localns={"Opaque": Opaque})

    def refuse(value: Any) -> Opaque:
        raise Unprintable("bad opaque")

    register_structure_hook(Opaque, refuse)
    assert message([{"opaque": 1}], Holder).endswith("field 'opaque': Unprintable: ('bad opaque',)")


@attrs.frozen
class Bare:
    id: str
    items: List = attrs.field(factory=list)  # type: ignore[type-arg]  # noqa: UP006
    pairs: tuple[Leaf, ...] = ()


def test_bare_and_variadic_containers_are_named_too() -> None:
    assert "field 'pairs[0].count (missing)':" in message(
        [{"id": "1", "pairs": [{"name": "a"}]}], Bare
    )
    assert "field 'items':" in message([{"id": "1", "items": 5}], Bare)


def test_a_bad_value_deep_in_a_recursive_class_names_its_path() -> None:
    bad = {"name": "r", "children": [{"name": "c", "parent": {"name": 7}}]}
    assert "field 'children[0].parent.name':" in message([bad], Tree)


@pytest.mark.parametrize(
    ("model", "field", "type_name"),
    [
        (OptionalInner, "inner.unknown", "Unknown"),
        (ListOfInner, "inners[].unknown", "Unknown"),
    ],
)
def test_a_type_without_a_hook_is_named_with_its_field(
    model: type[Any], field: str, type_name: str
) -> None:
    text = message([{"id": "1"}], model)
    assert f"field {field!r} has a type with no structure hook ({type_name})" in text
    assert "register_structure_hook" in text


def test_a_hook_cattrs_cannot_make_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    # As for a generic class with a required keyword-only field before a
    # positional one (cattrs 26.2): its generated code, without detailed
    # validation, is a SyntaxError. That is the reason, not a type without a hook.
    @attrs.frozen
    class Refused:
        id: str

    real = CONVERTER.get_structure_hook

    def get_structure_hook(tp: Any) -> Any:
        if tp is Refused:
            raise SyntaxError("positional argument follows keyword argument")
        return real(tp)

    monkeypatch.setattr(CONVERTER, "get_structure_hook", get_structure_hook)
    text = message([{"id": "1"}], Refused)
    assert text.endswith(
        "cannot structure Refused: cattrs could not make its structure hook "
        "(SyntaxError: positional argument follows keyword argument)"
    )


def test_once_its_hook_is_registered_the_model_structures() -> None:
    @attrs.frozen
    class Later:
        pass

    @attrs.frozen
    class Holder:
        id: str
        later: Later | None = None

    # A class defined here, so that this test's hook changes no other test.
    attrs.resolve_types(Holder, localns={"Later": Later})
    register_structure_hook(Later, lambda value: Later())
    assert structure_items([{"id": "1", "later": {}}], Holder, "GET /x") == [Holder("1", Later())]
