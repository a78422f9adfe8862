"""The structuring code generated per attrs class: an item hook and a page hook.

cattrs' generated hooks call a structuring function per field. The
converter's hooks for str/int/float/bool are Python functions (they refuse
a wrong JSON type instead of casting it), so a field would cost a call even
when its value is already right. The item hook made here
(:func:`make_item_hook`) inlines the type test and calls the field's hook
only for a value that is not of the exact type (to convert it or raise the
same error). It takes only classes whose every field it can express (a type
for each field ``__init__`` takes: :func:`fast_attrs`), generic ones given
their arguments included (``generics`` binds their type variables class by
class); cattrs' own factory takes the rest. ``tests/unit/test_converter.py``
holds it to cattrs' own generated hook.

The item hook is the reference for the page hook (:func:`make_page_hook`),
which gives the same values for less work per item of the usual shape: it
tests the JSON types of the fields it can (``str``, ``int``, ...,
timestamps, nested attrs objects, lists of scalars) in one condition, every
timestamp of the API's own shape with one regular expression, and builds
nested objects the same way inline. An item (or a nested object) not of
that shape is handed whole to its reference hook, so it comes out as the
reference makes it. Whatever the loop raises, the caller re-runs the page
with the item hook to name the item and field (``structuring``).
"""

from __future__ import annotations

import inspect
import linecache
import threading
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

import attrs

from .generics import attrs_class, bound_fields, has_type_variables
from .isotime import api_shapes, from_api_shape

__all__ = [
    "Hooks",
    "PageHook",
    "fast_attrs",
    "make_item_hook",
    "make_page_hook",
    "optional_arg",
]

PageHook = Callable[[list[Any]], list[Any]]
Hook = Callable[[Any, Any], Any]

# Stands for "key absent" where a field has a default: a JSON value never is it.
_ABSENT = object()


class _STAMP:
    """The kind of a timestamp field: a ``str`` of the API's shape."""


# Nested attrs objects built inline, at most this deep (deeper: their hook).
_MAX_DEPTH = 3

# The classes whose item hook this thread is making. A class met again
# while its own hook is being made contains itself: make_item_hook raises
# RecursionError at once, as cattrs' own generator does, and the field's
# hook is looked up when used (Hooks.get). Without this the re-entry went
# on until the interpreter's stack ran out, and where that RecursionError
# landed depended on the caller's depth (in resolving annotations, say,
# which cached a hook that could not read the class).
_making = threading.local()


def optional_arg(tp: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``, else ``None``."""
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        if len(args) == 2 and type(None) in args:
            return args[0] if args[1] is type(None) else args[1]
    return None


@attrs.frozen
class Hooks:
    """What the converter tells the generator about its own hooks."""

    converter: Any
    #: Each exact-type-tested type (``str``, ``int``, ...) and the hook for it.
    scalars: Mapping[type, Hook]
    #: The timestamp hook.
    timestamp: Hook
    #: The item hooks made by :func:`make_item_hook` (what a page hook inlines).
    objects: weakref.WeakSet[Hook] = attrs.field(factory=weakref.WeakSet)
    #: The converter's hooks of ``list[X]`` for a scalar X, which copy a list
    #: whose every element is an X and convert any other element by element.
    lists: weakref.WeakSet[Hook] = attrs.field(factory=weakref.WeakSet)

    def get(self, tp: Any) -> Hook:
        try:
            hook: Hook = self.converter.get_structure_hook(tp)
        except RecursionError:  # a class that contains itself: look it up when used
            hook = self.converter.structure
        return hook

    def scalar(self, target: Any, hook: Hook) -> bool:
        return target in self.scalars and hook is self.scalars[target]


def _slot_setters(cl: Any) -> list[Any] | None:
    """Each field's slot setter, if an instance of ``cl`` can be built slot by slot.

    attrs' ``__init__`` for a class like that stores each argument in its
    slot and does nothing else: no validator, converter or init hook runs,
    and the class has no slot but its fields'. Setting the slots directly
    then builds the same instance without the per-field ``object.__setattr__``
    calls (about a sixth of building a large record). For any other class
    ``None``: the page hook calls the class.
    """
    if not _init_only_stores(cl):
        return None
    fields = attrs.fields(cl)
    if not all(f.init for f in fields):
        return None  # attrs' __init__ gives those their defaults: call it
    slots: set[str] = set()
    for klass in cl.__mro__:
        declared = klass.__dict__.get("__slots__", ())
        slots.update((declared,) if isinstance(declared, str) else declared)
    slots.discard("__weakref__")
    if slots != {f.name for f in fields}:
        return None  # a dict class, or one with a cached hash or other slots
    setters = []
    for f in fields:
        descriptor = inspect.getattr_static(cl, f.name, None)
        if not isinstance(descriptor, types.MemberDescriptorType):
            return None
        setters.append(descriptor.__set__)
    return setters


def _init_only_stores(cl: Any) -> bool:
    """Whether calling ``cl`` is ``object.__new__`` and attrs' own __init__ storing each field."""
    code = getattr(getattr(cl, "__init__", None), "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return False  # a hand-written __init__ (or none generated): call it
    if "_cached_setattr_get" not in code.co_names and cl.__setattr__ is not object.__setattr__:
        # This __init__ assigns through the class's own __setattr__ (a
        # mutable class's, or a base's): only calling it does what that does.
        # attrs' frozen and on_setattr inits bind object.__setattr__ instead.
        return False
    if any(hasattr(cl, name) for name in ("__attrs_pre_init__", "__attrs_post_init__")):
        return False
    if cl.__new__ is not object.__new__ or type(cl).__call__ is not type.__call__:
        return False  # calling the class does more than __new__ then __init__
    return not any(f.validator is not None or f.converter is not None for f in attrs.fields(cl))


def _inlinable(model: Any) -> bool:
    # A factory taking self needs the instance being built: left to the hook.
    return not any(
        isinstance(f.default, attrs.Factory) and f.default.takes_self  # type: ignore[arg-type, union-attr]
        for f in bound_fields(model)
    )


class _Writer:
    """The generated function's text and the names it refers to.

    Each variable is named by its place (``a3`` the fourth field of the
    item, ``a3_0`` the first of the object in it), and the names the code
    refers to by the variable: ``h``/``t`` its hook and type, ``k`` its
    exact JSON type, ``e`` that of its elements (a list), ``d`` its default;
    per object ``s`` its timestamp test and ``cl`` its class.
    """

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        self.ns: dict[str, Any] = {"absent": _ABSENT, "parse": from_api_shape}

    def step(self, v: str, tp: Any) -> list[str]:
        """Statements turning ``v`` (a field's JSON value) into its value, as the item hook does."""
        inner = optional_arg(tp)
        target = tp if inner is None else inner
        hook = self.hooks.get(target)
        self.ns[f"h{v}"], self.ns[f"t{v}"] = hook, target
        conditions = [] if inner is None else [f"{v} is not None"]
        if self.hooks.scalar(target, hook):
            self.ns[f"k{v}"] = target
            conditions.append(f"{v}.__class__ is not k{v}")
        action = f"{v} = h{v}({v}, t{v})"
        return [f"if {' and '.join(conditions)}: {action}" if conditions else action]

    def kind(self, tp: Any, hook: Hook, stack: tuple[Any, ...]) -> type | None:
        """The JSON type of a required field of type ``tp`` in the usual shape, if tested.

        ``_STAMP`` for a timestamp: a ``str`` of the API's shape.
        """
        if hook is self.hooks.timestamp:
            return _STAMP
        if self.hooks.scalar(tp, hook):
            return tp  # type: ignore[no-any-return]
        if hook in self.hooks.lists:
            return list
        if hook in self.hooks.objects and tp not in stack and len(stack) < _MAX_DEPTH:
            return dict if _inlinable(tp) else None
        return None

    def build(
        self, model: Any, src: str, p: str, stack: tuple[Any, ...], done: str, otherwise: str
    ) -> list[str]:
        """Statements building ``model`` from the JSON object in ``src``, then ``done``.

        ``done`` is formatted with the constructor call; ``otherwise`` is the
        statement for an object not of the usual shape (its reference hook).
        """
        stack = (*stack, model)
        checked: list[str] = []  # the variables read by the itemgetter, in field order
        keys: list[str] = []
        expected: list[type] = []
        stamps: list[str] = []
        after: list[str] = []  # once the shape holds: parsing, nested objects, the rest
        names: list[str] = []
        fields = bound_fields(model)
        for index, field in enumerate(fields):
            v, key = f"{p}{index}", repr(field.name)
            names.append(v)
            if field.default is not attrs.NOTHING:
                after += self.defaulted(v, src, key, field.default, field.type)
                continue
            hook = self.hooks.get(field.type)
            kind = self.kind(field.type, hook, stack)
            if kind is None:
                after += [f"{v} = {src}[{key}]", *self.step(v, field.type)]
                continue
            checked.append(v)
            keys.append(field.name)
            expected.append(str if kind is _STAMP else kind)
            self.ns[f"h{v}"], self.ns[f"t{v}"] = hook, field.type
            if kind is _STAMP:
                stamps.append(v)
                after.insert(len(stamps) - 1, f"{v} = parse({v})")
            elif kind is dict:
                after += self.build(
                    field.type, v, f"{v}_", stack, f"{v} = {{}}", f"{v} = h{v}({v}, t{v})"
                )
            elif kind is list:
                after += self.copy_list(v, field.type)
        self.ns[f"cl{p}"] = cl = attrs_class(model)
        setters = _slot_setters(cl)
        if setters is None:
            body = [*after, done.format(f"cl{p}({', '.join(_arguments(fields, names))})")]
        else:
            self.ns["new"] = object.__new__
            made = f"{p}new"
            body = [*after, f"{made} = new(cl{p})"]
            for index, (v, setter) in enumerate(zip(names, setters, strict=True)):
                self.ns[f"set{p}{index}"] = setter
                body.append(f"set{p}{index}({made}, {v})")
            body.append(done.format(made))
        if not checked:
            return body
        # One condition for the whole object: a chain of class tests reads
        # faster than a test per field with a branch each.
        tests = []
        for v, kind in zip(checked, expected, strict=True):
            self.ns[f"k{v}"] = kind
            tests.append(f"{v}.__class__ is k{v}")
        if stamps:
            self.ns[f"s{p}"] = api_shapes(len(stamps))
            tests.append(f"s{p}({' + '.join(stamps)})")
        return [
            *(f"{v} = {src}[{key!r}]" for v, key in zip(checked, keys, strict=True)),
            f"if {' and '.join(tests)}:",
            *_indent(body),
            "else:",
            f"  {otherwise}",
        ]

    def defaulted(self, v: str, src: str, key: str, default: Any, tp: Any) -> list[str]:
        # Passed as attrs would fill it in: the value, or a call of its
        # factory (a factory taking self keeps the class out: _inlinable).
        factory = isinstance(default, attrs.Factory)  # type: ignore[arg-type]
        self.ns[f"d{v}"] = default.factory if factory else default
        fill = f"d{v}()" if factory else f"d{v}"
        return [
            f"{v} = {src}.get({key}, absent)",
            f"if {v} is absent: {v} = {fill}",
            "else:",
            *_indent(self.step(v, tp)),
        ]

    def copy_list(self, v: str, tp: Any) -> list[str]:
        # What the list hook does, inline: copied when every element is of
        # the exact type, else the hook itself (converting or raising).
        self.ns[f"e{v}"] = get_args(tp)[0]
        return [
            f"for e in {v}:",
            f"  if e.__class__ is not e{v}:",
            f"    {v} = h{v}({v}, t{v})",
            "    break",
            "else:",
            f"  {v} = {v}.copy()",
        ]


def _arguments(fields: Sequence[attrs.Attribute[Any]], names: list[str]) -> list[str]:
    """A call's arguments giving each of ``fields`` its variable in ``names``: by keyword
    (its ``__init__`` name, the alias) for a keyword-only field, which may come before
    positional ones (from a base class)."""
    return [v for f, v in zip(fields, names, strict=True) if not f.kw_only] + [
        f"{f.alias}={v}" for f, v in zip(fields, names, strict=True) if f.kw_only
    ]


def _indent(lines: list[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def fast_attrs(model: Any) -> bool:
    """Whether :func:`make_item_hook` can express ``model``'s structuring: an attrs class, or
    a generic one given its arguments, whose every field ``__init__`` takes has a type."""
    cl = attrs_class(model)
    if cl is None:
        return False
    if model is cl and getattr(cl, "__parameters__", None):
        return False  # a bare generic class: cattrs' (a variable's default, or refused)
    try:
        fields = bound_fields(model)
    except Exception:  # unresolvable annotations: cattrs reports them its own way
        return False
    return all(
        f.alias is not None and f.type is not None and not has_type_variables(f.type)
        for f in fields
    )


def _name(model: Any) -> str:
    """``model`` as a generated function's file name shows it: ``pkg.Box`` or ``pkg.Box[int]``."""
    return (
        repr(model) if get_origin(model) is not None else f"{model.__module__}.{model.__qualname__}"
    )


def _compile(source: str, filename: str, ns: dict[str, Any], name: str) -> Any:
    # Registered with linecache so that a traceback through it shows the code.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    return ns[name]


def make_item_hook(model: Any, hooks: Hooks) -> Hook:
    """The hook structuring one JSON object into ``model`` (one :func:`fast_attrs` takes).

    Raises ``KeyError`` for a missing required key, and what a field's hook
    raises for its value (``TypeError``, ``ValueError``...). Making it
    raises ``RecursionError`` for a class whose hook is already being made.
    """
    making: set[Any] = _making.__dict__.setdefault("classes", set())
    if model in making:
        raise RecursionError(f"{model!r} contains itself")
    making.add(model)
    try:
        return _make_item_hook(model, hooks)
    finally:
        making.discard(model)


def _make_item_hook(model: Any, hooks: Hooks) -> Hook:
    writer = _Writer(hooks)
    writer.ns["cl"] = attrs_class(model)
    # Fields with a default first, then the required ones, as cattrs orders
    # them: with several bad fields the same error comes out first.
    with_default = ["res = {}"]
    required = []
    required_fields = []
    names = []
    for index, field in enumerate(bound_fields(model)):
        v, key = f"a{index}", repr(field.name)
        if field.default is attrs.NOTHING:
            required += [f"{v} = o[{key}]", *writer.step(v, field.type)]
            required_fields.append(field)
            names.append(v)
        else:
            with_default += [f"if {key} in o:", f"  {v} = o[{key}]"]
            with_default += [*_indent(writer.step(v, field.type)), f"  res[{field.alias!r}] = {v}"]
    arguments = _arguments(required_fields, names)
    if len(with_default) > 1:
        arguments.append("**res")
    else:
        with_default = []
    body = [*with_default, *required, f"return cl({', '.join(arguments)})"]
    source = "\n".join(["def structure(o, _=None):", *_indent(body), ""])
    filename = f"<accutics_async structure {_name(model)}>"
    hook: Hook = _compile(source, filename, writer.ns, "structure")
    hooks.objects.add(hook)
    return hook


def make_page_hook(model: Any, item: Hook, hooks: Hooks) -> PageHook:
    """A function structuring a list of JSON items into ``model``, as ``item`` would one by one.

    ``model`` is an attrs class (or a generic alias of one) and ``item`` its
    generated item hook. Raises whatever an item's hook raises, or anything
    for an item that does not fit.
    """
    if not _inlinable(model):
        return lambda data: [item(value, model) for value in data]
    writer = _Writer(hooks)
    body = writer.build(model, "o", "a", (), "append({})", "append(item(o, cl))")
    writer.ns["cl"], writer.ns["item"] = model, item
    lines = [
        "def structure_page(data):",
        "  out = []",
        "  append = out.append",
        "  for o in data:",
        *_indent(_indent(body)),
        "  return out",
        "",
    ]
    filename = f"<accutics_async page {_name(model)}>"
    hook: PageHook = _compile("\n".join(lines), filename, writer.ns, "structure_page")
    return hook
