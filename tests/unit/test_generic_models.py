"""Generic attrs models: their type variables stand for what each declaring class says.

``Box[int]``, subclasses of a bound generic (``class IntBox(Box[int])``) and
hierarchies that reuse one type variable are structured by the library's
own item and page hooks, which bind the variables class by class
(``_sansio.generics``), and a bad item names its field through the same
binding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs
import pytest
from cattrs.gen import make_dict_structure_fn
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import DecodeError
from accutics_async._sansio import converter as _converter
from accutics_async._sansio import generated, generics
from accutics_async._sansio.converter import CONVERTER, structure
from accutics_async._sansio.structuring import structure_items

T = TypeVar("T")
U = TypeVar("U")


@attrs.frozen
class Leaf:
    name: str
    count: int = 0


@attrs.frozen
class Box(Generic[T]):
    label: str
    value: T
    values: list[T] = attrs.field(factory=list)
    maybe: T | None = None


@attrs.frozen
class IntBox(Box[int]):
    pass


@attrs.frozen
class LeafBox(Box[Leaf]):
    pass


@attrs.frozen
class Named(Box[int], Generic[T]):
    """Reuses ``T``: here it is Named's own variable; Box's ``T`` is ``int``."""

    tag: T = attrs.field(kw_only=True)


@attrs.frozen
class Pair(Generic[T, U]):
    left: T
    right: U


@attrs.frozen
class Swapped(Pair[U, T], Generic[T, U]):
    """Passes its own variables on to its base in the other order."""


@attrs.frozen
class Listed(Pair[list[T], str], Generic[T]):
    pass


@attrs.frozen
class FromListed(Listed[Leaf]):
    extra: int = 0


@attrs.frozen
class KeywordBase(Generic[T]):
    id: T = attrs.field(kw_only=True)


@attrs.frozen
class AfterKeyword(KeywordBase[str], Generic[T]):
    """A required keyword-only field (from the base) before a positional one."""

    value: T


class PairMixin(Pair[U, T], Generic[T, U]):
    """A plain class between attrs ones: it inherits __attrs_attrs__ but declares nothing."""

    def swapped(self) -> tuple[Any, Any]:
        return self.right, self.left  # type: ignore[attr-defined]


@attrs.frozen
class AfterMixin(PairMixin[int, str]):
    """Pair's T is str here, its U int."""


class PlainNamed(Named[str]):
    """A plain subclass as the model itself."""


@attrs.frozen
class LaterBox(Box["Later"]):
    """A forward reference in a base's arguments, resolved in this module."""


@attrs.frozen
class Later:
    when: int


@attrs.frozen
class Tree(Generic[T]):
    value: T
    children: list[Tree[T]] = attrs.field(factory=list)
    parent: Tree[T] | None = None


class Unknown:
    """A field type nobody registered a hook for."""


@attrs.frozen
class WithBareBox(Generic[T]):
    item: T
    bare: Box  # type: ignore[type-arg]


@attrs.frozen
class Holder:
    id: str
    box: Box[Leaf]
    boxes: list[Box[int]] = attrs.field(factory=list)


TREE = {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}], "parent": {"value": 0}}

GOOD = [
    (Box[int], {"label": "l", "value": 1, "values": [2, 3]}, Box("l", 1, [2, 3])),
    (Box[str], {"label": "l", "value": "v", "maybe": None}, Box("l", "v")),
    (Box[Leaf], {"label": "l", "value": {"name": "a"}}, Box("l", Leaf("a"))),
    (IntBox, {"label": "l", "value": 1, "maybe": 2}, IntBox("l", 1, maybe=2)),
    (LeafBox, {"label": "l", "value": {"name": "a", "count": 2}}, LeafBox("l", Leaf("a", 2))),
    (Named[str], {"label": "l", "value": 1, "tag": "t"}, Named("l", 1, tag="t")),
    (Swapped[int, str], {"left": "a", "right": 1}, Swapped("a", 1)),
    (Listed[int], {"left": [1, 2], "right": "r"}, Listed([1, 2], "r")),
    (FromListed, {"left": [{"name": "a"}], "right": "r"}, FromListed([Leaf("a")], "r")),
    (AfterKeyword[int], {"id": "i", "value": 3}, AfterKeyword(3, id="i")),
    (Tree[int], TREE, Tree(1, [Tree(2, [Tree(3)])], Tree(0))),
    (AfterMixin, {"left": "a", "right": 1}, AfterMixin("a", 1)),
    (PlainNamed, {"label": "l", "value": 1, "tag": "t"}, PlainNamed("l", 1, tag="t")),
    (LaterBox, {"label": "l", "value": {"when": 1}}, LaterBox("l", Later(1))),
    (
        Holder,
        {
            "id": "h",
            "box": {"label": "l", "value": {"name": "a"}},
            "boxes": [{"label": "m", "value": 4}],
        },
        Holder("h", Box("l", Leaf("a")), [Box("m", 4)]),
    ),
]


@pytest.mark.parametrize(("model", "value", "expected"), GOOD)
def test_generic_models_structure_as_their_classes_declare(
    model: Any, value: dict[str, Any], expected: Any
) -> None:
    assert structure(value, model) == expected
    assert structure_items([value, value], model, "u") == [expected, expected]


@pytest.mark.parametrize(("model", "value", "expected"), GOOD)
def test_generic_models_are_structured_by_the_fast_hooks(
    model: Any, value: dict[str, Any], expected: Any, by_the_fast_hooks: Callable[..., None]
) -> None:
    by_the_fast_hooks(model, value, expected)


@pytest.mark.parametrize(
    ("model", "value"),
    [
        # Each gives a value of the type another class's T stands for.
        (Named[str], {"label": "l", "value": 1, "tag": 5}),
        (Named[str], {"label": "l", "value": "1", "tag": "t"}),
        (Swapped[int, str], {"left": 1, "right": "a"}),
        (Listed[int], {"left": [1], "right": 2}),
        (AfterKeyword[int], {"id": 1, "value": 3}),
        (AfterMixin, {"left": 1, "right": "a"}),
        (PlainNamed, {"label": "l", "value": 1, "tag": 5}),
    ],
)
def test_a_type_variable_stands_for_what_its_own_class_says(
    model: Any, value: dict[str, Any]
) -> None:
    # cattrs 26's own hook maps one variable to one type for the whole
    # model, so Named[str] read Box's value as str and tag as int: a right
    # item was refused and a wrong one passed.
    with pytest.raises((TypeError, ValueError)):
        structure(value, model)
    with pytest.raises(DecodeError, match="does not fit"):
        structure_items([value], model, "u")


@pytest.mark.parametrize(
    ("model", "value", "field"),
    [
        (Box[int], {"label": "l", "value": "x"}, "value"),
        (Box[int], {"label": 5, "value": 1}, "label"),
        (Box[int], {"label": "l", "value": 1, "values": [1, "x"]}, "values[1]"),
        (Box[int], {"label": "l", "value": 1, "maybe": "x"}, "maybe"),
        (Box[Leaf], {"label": "l", "value": {"name": "a", "count": "x"}}, "value.count"),
        (
            Holder,
            {"id": "1", "box": {"label": "l", "value": {"count": 1}}},
            "box.value.name (missing)",
        ),
        (IntBox, {"label": "l", "value": "x"}, "value"),
        (LeafBox, {"label": "l", "value": {"name": 5}}, "value.name"),
        (
            FromListed,
            {"left": [{"name": "a"}, {"count": 1}], "right": "r"},
            "left[1].name (missing)",
        ),
        (Named[str], {"label": "l", "value": 1, "tag": 5}, "tag"),
        (Named[str], {"label": "l", "value": "x", "tag": "t"}, "value"),
        (Swapped[int, str], {"left": "a", "right": "b"}, "right"),
        (AfterKeyword[int], {"id": "i", "value": "x"}, "value"),
        (Tree[int], {"value": 1, "children": [{"value": 2}, {"value": "x"}]}, "children[1].value"),
        (
            Holder,
            {
                "id": "h",
                "box": {"label": "l", "value": {"name": "a"}},
                "boxes": [{"label": "m", "value": "x"}],
            },
            "boxes[0].value",
        ),
    ],
)
def test_a_bad_item_names_the_field_through_the_same_binding(
    model: Any, value: dict[str, Any], field: str
) -> None:
    with pytest.raises(DecodeError, match="does not fit") as caught:
        structure_items([value], model, "u")
    assert f": field {field!r}:" in str(caught.value)


def test_a_variable_left_without_an_argument_is_left_to_cattrs() -> None:
    # Named without its argument: its tag has no type to test against.
    assert not generated.fast_attrs(Named)
    assert not generated.fast_attrs(Box)
    assert not generics.has_type_variables(generics.bound_fields(Named[int])[-1].type)
    assert generics.has_type_variables(generics.bound_fields(Named)[-1].type)


@attrs.frozen
class Phantom(Generic[T]):
    """A variable no field uses: cattrs still wants it."""

    x: int


@attrs.frozen
class Row(Generic[T, U]):
    id: str
    value: T
    values: list[T]
    other: U | None
    leaf: Leaf
    maybe: T | None = None
    more: list[U] = attrs.field(factory=list)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.sampled_from(["x", "1"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "count", "z"]), inner)
    ),
    max_leaves=6,
)
ROW = {"id": "r", "value": 1, "values": [1, 2], "other": "o", "leaf": {"name": "a"}}


@given(st.dictionaries(st.sampled_from([*ROW, "maybe", "more"]), json_values))
def test_the_fast_hook_matches_cattrs_on_a_generic_model_given_any_json(
    changes: dict[str, Any],
) -> None:
    # Where cattrs binds the variables right (one class, no reuse), both
    # hooks agree on every value and every failure's type.
    model = Row[int, str]
    reference = make_dict_structure_fn(model, CONVERTER, _cattrs_detailed_validation=False)
    value = {**ROW, **changes}

    def outcome(hook: Any) -> Any:
        try:
            return ("ok", hook(value, model))
        except Exception as exc:
            return ("error", type(exc))

    assert outcome(CONVERTER.get_structure_hook(model)) == outcome(reference)
    item = CONVERTER.get_structure_hook(model)
    if outcome(item)[0] == "ok":
        assert _converter.page_hook(model, item)([value]) == [outcome(item)[1]]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TypeVarTuple is new in 3.11")
def test_a_variadic_generic_is_left_to_cattrs_not_bound_wrongly() -> None:
    # Its arguments do not pair off with its parameters one by one (Ts takes
    # str and bool): binding them so read rest as tuple[str].
    namespace: dict[str, Any] = {}
    exec(
        "from typing import Generic, TypeVar, TypeVarTuple, Unpack\n"
        "import attrs\n"
        "T = TypeVar('T')\n"
        "Ts = TypeVarTuple('Ts')\n"
        "@attrs.frozen\n"
        "class Row(Generic[T, Unpack[Ts]]):\n"
        "    first: T\n"
        "    rest: tuple[Unpack[Ts]]\n",
        namespace,
    )
    model = namespace["Row"][int, str, bool]
    assert not generated.fast_attrs(model)
    with pytest.raises(DecodeError):
        structure_items([{"first": 1, "rest": ["s"]}], model, "u")


@pytest.mark.parametrize(
    ("model", "what", "fix"),
    [
        (Box, "field 'value'", "pass the model with its type arguments (Box[...])"),
        (Pair[int, T], "field 'right'", "pass the model with its type arguments (Pair[...])"),
        (Phantom, "Phantom", "pass the model with its type arguments (Phantom[...])"),
        # A bare generic class in a field is not given the outer arguments.
        (
            WithBareBox[int],
            "field 'bare.value'",
            "give each generic class its type arguments where a field uses it",
        ),
    ],
)
def test_a_generic_class_without_its_arguments_is_refused_as_such(
    model: Any, what: str, fix: str
) -> None:
    # Not "add a structure hook for T": no hook is missing, an argument is.
    with pytest.raises(DecodeError) as caught:
        structure_items([{"x": 1}], model, "u")
    assert str(caught.value).endswith(
        f"{what} has the type variable T, which no type argument binds; {fix}"
    )


@pytest.mark.parametrize(
    ("model", "field"), [(Box[Unknown], "value"), (Box[list[Unknown]], "value[]")]
)
def test_a_type_without_a_hook_in_a_generic_class_is_named(model: Any, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        structure_items([{"label": "l"}], model, "u")
    text = str(caught.value)
    assert f"field {field!r} has a type with no structure hook (Unknown)" in text
    assert "register_structure_hook" in text
