"""Structuring a whole page of ``model=`` items with one generated loop.

The converter's per-item hook for an attrs class (``converter._make_fast_hook``)
is the reference: it gives an item's value or raises its error. The loop
made here gives the same values for less work per item of the usual shape:
it reads the fields whose JSON type it can test (``str``, ``int``, ...,
timestamps, nested attrs objects, lists of scalars) with one ``itemgetter``
call, tests those types with one tuple comparison and every timestamp of
the API's own shape with one regular expression, and builds nested objects
the same way inline. An item (or a nested object) not of that shape is
handed whole to its reference hook, so it comes out as the reference makes
it. Whatever the loop raises, the caller re-runs the page with the per-item
hook to name the item and field (``structuring``).
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Callable, Collection, Mapping
from operator import itemgetter
from typing import Any, Union, get_args, get_origin

import attrs

from .isotime import api_shapes, from_api_shape

__all__ = ["Hooks", "PageHook", "make_page_hook", "optional_arg"]

PageHook = Callable[[list[Any]], list[Any]]
Hook = Callable[[Any, Any], Any]

# Stands for "key absent" where a field has a default: a JSON value never is it.
_ABSENT = object()


class _STAMP:
    """The kind of a timestamp field: a ``str`` of the API's shape."""


# Nested attrs objects built inline, at most this deep (deeper: their hook).
_MAX_DEPTH = 3


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
    #: The generated item hooks of attrs classes (what this module can inline).
    objects: Collection[Hook]
    #: The hooks of ``list[X]`` for a scalar X (copy when every element is an X).
    lists: Collection[Hook]

    def get(self, tp: Any) -> Hook:
        try:
            hook: Hook = self.converter.get_structure_hook(tp)
        except RecursionError:  # a class that contains itself: look it up when used
            hook = self.converter.structure
        return hook

    def scalar(self, target: Any, hook: Hook) -> bool:
        return target in self.scalars and hook is self.scalars[target]


def _inlinable(cl: Any) -> bool:
    # A factory taking self needs the instance being built: left to the hook.
    return not any(
        isinstance(f.default, attrs.Factory) and f.default.takes_self  # type: ignore[arg-type]
        for f in attrs.fields(cl)
    )


class _Writer:
    """The generated function's text and the names it refers to.

    Each variable is named by its place (``a3`` the fourth field of the
    item, ``a3_0`` the first of the object in it), and the names the code
    refers to by the variable: ``h``/``t`` its hook and type, ``k`` its
    exact JSON type, ``d`` its default; per object ``g`` its itemgetter,
    ``E`` the JSON types expected, ``s`` its timestamp test, ``cl`` its class.
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
        self, cl: Any, src: str, p: str, stack: tuple[Any, ...], done: str, otherwise: str
    ) -> list[str]:
        """Statements building ``cl`` from the JSON object in ``src``, then ``done``.

        ``done`` is formatted with the constructor call; ``otherwise`` is the
        statement for an object not of the usual shape (its reference hook).
        """
        stack = (*stack, cl)
        checked: list[str] = []  # the variables read by the itemgetter, in field order
        keys: list[str] = []
        expected: list[type] = []
        stamps: list[str] = []
        after: list[str] = []  # once the shape holds: parsing, nested objects, the rest
        names: list[str] = []
        for index, field in enumerate(attrs.fields(cl)):
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
        self.ns[f"cl{p}"] = cl
        body = [*after, done.format(f"cl{p}({', '.join(names)})")]
        if not checked:
            return body
        self.ns[f"E{p}"] = tuple(expected)
        # itemgetter of one key gives the value, not a 1-tuple: wrapped then.
        one = keys[0]
        self.ns[f"g{p}"] = itemgetter(*keys) if len(keys) > 1 else (lambda o: (o[one],))
        test = f"tuple(map(type, c{p})) == E{p}"
        if stamps:
            self.ns[f"s{p}"] = api_shapes(len(stamps))
            test += f" and s{p}({' + '.join(f'c{p}[{checked.index(v)}]' for v in stamps)})"
        return [
            f"c{p} = g{p}({src})",
            f"if {test}:",
            f"  {', '.join(checked)}, = c{p}",
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
        self.ns[f"k{v}"] = get_args(tp)[0]
        return [
            f"for e in {v}:",
            f"  if e.__class__ is not k{v}:",
            f"    {v} = h{v}({v}, t{v})",
            "    break",
            "else:",
            f"  {v} = {v}.copy()",
        ]


def _indent(lines: list[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def make_page_hook(cl: Any, item: Hook, hooks: Hooks) -> PageHook:
    """A function structuring a list of JSON items into ``cl``, as ``item`` would one by one.

    ``cl`` is an attrs class and ``item`` its generated item hook (every
    field in ``__init__`` under its own name). Raises whatever an item's
    hook raises, or anything for an item that does not fit.
    """
    if not _inlinable(cl):
        return lambda data: [item(value, cl) for value in data]
    writer = _Writer(hooks)
    body = writer.build(cl, "o", "a", (), "append({})", "append(item(o, cl))")
    writer.ns["cl"], writer.ns["item"] = cl, item
    lines = [
        "def structure_page(data):",
        "  out = []",
        "  append = out.append",
        "  for o in data:",
        *_indent(_indent(body)),
        "  return out",
        "",
    ]
    source = "\n".join(lines)
    filename = f"<accutics_async page {cl.__module__}.{cl.__qualname__}>"
    # Registered with linecache so that a traceback through it shows the code.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), writer.ns)
    hook: PageHook = writer.ns["structure_page"]
    return hook
