"""What an attrs model's type variables stand for, field by field.

A model can be a generic class given its arguments (``Box[int]``), a
subclass of one (``class IntBox(Box[int])``), or both at several levels.
A field's type is written with the type variables of the class that
declares it, and the same variable (a module's one ``T``) can stand for
different types in different classes of one hierarchy: in ``class
Named(Box[int], Generic[T])`` the ``T`` of ``Box``'s fields is ``int``,
and that of ``Named``'s own fields is whatever ``Named[...]`` says. So the
variables are bound per declaring class, following ``__orig_bases__`` from
the model down, never by one mapping for the whole model.

The item and page hooks (``generated``) and the bad-item walk
(``structuring``) read a model's fields through :func:`bound_fields`, so
they build, and name, the same types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import attrs

__all__ = ["attrs_class", "bound_fields", "has_type_variables"]


def attrs_class(model: Any) -> type | None:
    """The attrs class behind ``model`` (itself, or a generic alias's class), else ``None``."""
    cl = get_origin(model) or model
    return cl if isinstance(cl, type) and attrs.has(cl) else None


def _bind(tp: Any, bound: dict[Any, Any]) -> Any:
    """``tp`` with the type variables in ``bound`` replaced (``list[T]`` -> ``list[int]``)."""
    if isinstance(tp, TypeVar):
        return bound.get(tp, tp)
    # Only an alias holding variables (list[T], Box[T], T | None): a bare
    # generic class (Box) is not given this class's arguments.
    parameters = getattr(tp, "__parameters__", ()) if get_origin(tp) is not None else ()
    if not parameters:
        return tp
    try:
        return tp[tuple(bound.get(p, p) for p in parameters)]
    except TypeError:
        # Not subscriptable after all: left as declared. It still holds its
        # variables, so the hooks leave the class to cattrs (fast_attrs).
        return tp


def has_type_variables(tp: Any) -> bool:
    """Whether ``tp`` is, or holds, a type variable no argument was given for."""
    if isinstance(tp, TypeVar):
        return True
    return get_origin(tp) is not None and bool(getattr(tp, "__parameters__", ()))


def _resolved(arguments: tuple[Any, ...], klass: type) -> tuple[Any, ...]:
    """``arguments`` of one of ``klass``'s bases with string forward references
    (``Box["Leaf"]``) resolved in ``klass``'s module, as its annotations are."""
    holder = type("_Arguments", (), {"__module__": klass.__module__})
    holder.__annotations__ = {f"a{i}": arg for i, arg in enumerate(arguments)}
    try:
        hints = get_type_hints(holder)
    except Exception:  # left as written: the field then has no hook, and is named
        return arguments
    return tuple(hints[f"a{i}"] for i in range(len(arguments)))


def _bindings(model: Any, cl: type) -> dict[type, dict[Any, Any]]:
    """For ``cl`` and each generic base it names, what its own type variables stand for."""
    own: dict[Any, Any] = {}
    if model is not cl:
        own = _pairs(getattr(cl, "__parameters__", ()), get_args(model))
    bindings = {cl: own}
    # In method resolution order every class comes before its bases, so a
    # class's bindings are known when its bases' arguments are read.
    for klass in cl.__mro__:
        outer = bindings.get(klass, {})
        for base in klass.__dict__.get("__orig_bases__", ()):
            origin = get_origin(base)
            parameters = getattr(origin, "__parameters__", ())
            if not isinstance(origin, type) or not parameters:
                continue
            arguments = [_bind(arg, outer) for arg in _resolved(get_args(base), klass)]
            bindings.setdefault(origin, _pairs(parameters, arguments))
    return bindings


def _pairs(parameters: tuple[Any, ...], arguments: Sequence[Any]) -> dict[Any, Any]:
    """Each type variable with its argument. Not strict: one without an argument is left
    as declared. Nothing for a variadic or parameter-spec class (``TypeVarTuple``,
    ``ParamSpec``), whose arguments do not pair off: its fields then hold variables,
    which the hooks leave to cattrs."""
    if not all(isinstance(p, TypeVar) for p in parameters):
        return {}
    return dict(zip(parameters, arguments, strict=False))


def _declarers(cl: type) -> dict[str, type]:
    """Each of ``cl``'s fields by name, with the class that declares it.

    Read from each class's own ``__attrs_attrs__``: a plain class between
    attrs ones (a mixin adding methods) inherits the attribute, and
    ``attrs.has`` is true for it, but it declares none of the fields.
    """
    declarers: dict[str, type] = {}
    for klass in reversed(cl.__mro__):  # a subclass's redeclaration wins
        for field in klass.__dict__.get("__attrs_attrs__", ()):
            if not field.inherited:
                declarers[field.name] = klass
    return declarers


def bound_fields(model: Any) -> list[attrs.Attribute[Any]]:
    """The fields ``__init__`` takes, in its order, with their types resolved and bound.

    ``model`` is an attrs class or a generic alias of one; ``init=False``
    fields are left to attrs, as the hooks leave them. Raises what
    ``attrs.resolve_types`` raises for annotations that do not resolve.
    """
    cl = attrs_class(model)
    if cl is None:
        return []
    fields = [f for f in attrs.fields(attrs.resolve_types(cl)) if f.init]
    bindings = _bindings(model, cl)
    if not any(bindings.values()):
        return fields  # nothing generic: the fields as attrs has them, no copies
    declarers = _declarers(cl)
    bound = []
    for field in fields:
        variables = bindings.get(declarers.get(field.name, cl), {})
        bound.append(field.evolve(type=_bind(field.type, variables)) if variables else field)
    return bound
