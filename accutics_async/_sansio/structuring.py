"""``model=`` items: structuring them, naming the field that does not fit, user hooks.

cattrs' own exceptions never leave this module: an item that cannot become
the model is a ``DecodeError(kind="bad_item")`` naming the item and the
field, and a field type the converter has no hook for says how to add one.
"""

from __future__ import annotations

import collections.abc
import types
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin
from uuid import UUID

import attrs

from ..errors import ConfigurationError, DecodeError
from .converter import CONVERTER, page_hook
from .generated import optional_arg
from .generics import attrs_class, bound_fields
from .models import CursorPagination, Meta, PageNumberPagination, Record

__all__ = ["register_structure_hook", "structure_hook", "structure_items", "structure_prefix"]

T = TypeVar("T")

# Hooks the library itself reads the API with (see converter.build_converter):
# a user hook for one of them would change how every envelope is decoded.
_RESERVED: frozenset[type] = frozenset(
    {str, int, float, bool, datetime, date, UUID, Record, Meta, CursorPagination}
    | {PageNumberPagination}
)


def register_structure_hook(
    cls: type[T],
    structure: Callable[[Any], T],
    *,
    unstructure: Callable[[T], Any] | None = None,
) -> None:
    """Teach ``model=`` structuring (and exports of such items) a type of your own.

    ``structure(value)`` gets the JSON value of a field typed ``cls`` and
    returns the ``cls`` instance; whatever it raises for a bad value becomes
    a ``DecodeError`` naming the field. ``unstructure(instance)`` turns an
    instance back into JSON for exports (for example ``str`` for
    ``Decimal``). Enums and attrs classes need no hook. Applies to every
    client in the process. Raises ``ConfigurationError`` for a type the
    library's own decoding relies on (``str``, ``int``, ``datetime``, ...).

    >>> register_structure_hook(Decimal, lambda v: Decimal(str(v)), unstructure=str)
    """
    if not isinstance(cls, type) or not callable(structure):
        raise ConfigurationError("register_structure_hook(cls, structure): a class and a callable")
    if cls in _RESERVED:
        raise ConfigurationError(
            f"{cls.__name__} is decoded by the library itself; its hook cannot be replaced"
        )
    CONVERTER.register_structure_hook(cls, lambda value, _: structure(value))
    if unstructure is not None:
        CONVERTER.register_unstructure_hook(cls, unstructure)


def structure_items(data: list[Any], model: type[T], where: str) -> list[T]:
    """Each JSON item of ``data`` as ``model``.

    Raises ``DecodeError(kind="bad_item")`` naming the first item and field
    that do not fit, or the field whose type has no structure hook.
    """
    items, error = structure_prefix(data, model, where)
    if error is not None:
        raise error from error.__cause__
    return items


def structure_prefix(
    data: list[Any], model: type[T], where: str, first: int = 0
) -> tuple[list[T], DecodeError | None]:
    """``data``'s items as ``model`` up to the first that does not fit, and its error.

    ``data`` holds the items ``first`` on of a page, so the error names an
    item by its index in the page. The error, when there is one, is the
    ``DecodeError(kind="bad_item")`` :func:`structure_items` raises; a model
    with a field type no hook knows gives no items and that error.
    """
    try:
        hook = structure_hook(model, where)
    except DecodeError as error:
        return [], error
    try:
        return page_hook(model, hook)(data), None
    except Exception:
        pass
    # Slow path, only on failure: item by item with the item hook, which
    # decides (the page hook gives what it gives, or raises): the first bad
    # item is named, then its field.
    items: list[T] = []
    for index, item in enumerate(data, first):
        try:
            items.append(hook(item, model))
        except Exception as exc:
            return items, _bad_item(model, item, index, where, exc)
    return items, None


def structure_hook(model: type[T], where: str) -> Callable[[Any, Any], T]:
    """``model``'s structure hook, or ``DecodeError(kind="bad_item")`` naming the field
    whose type no hook knows."""
    try:
        return CONVERTER.get_structure_hook(model)
    except Exception as exc:  # cattrs could not build a hook: a field type it does not know
        raise _no_hook(model, where, exc) from None


def _no_hook(model: Any, where: str, exc: Exception) -> DecodeError:
    name = getattr(model, "__name__", repr(model))
    found = _field_without_hook(model, "", frozenset())
    what, type_ = (f"field {found[0]!r}", found[1]) if found else (name, getattr(exc, "type", None))
    # A generic model without (all) its arguments: model=Box, or Pair[int, T].
    unbound: tuple[Any, ...] = (
        getattr(model, "__parameters__", ()) if attrs_class(model) is not None else ()
    )
    if isinstance(type_, TypeVar) or (found is None and unbound):
        # No hook is missing but a type argument, so no hook would help.
        variable = type_ if isinstance(type_, TypeVar) else unbound[0]
        fix = (
            f"pass the model with its type arguments ({name}[...])"
            if unbound
            else "give each generic class its type arguments where a field uses it"
        )
        return DecodeError(
            f"{where}: cannot structure {name}: {what} has the type variable "
            f"{variable.__name__}, which no type argument binds; {fix}",
            kind="bad_item",
        )
    if type_ is None:
        # Not a type cattrs has no hook for: it failed to make the hook (its
        # code generator refuses some classes), which a hook of ours won't mend.
        return DecodeError(
            f"{where}: cannot structure {name}: cattrs could not make its structure hook "
            f"({type(exc).__name__}: {_text(exc)})",
            kind="bad_item",
        )
    return DecodeError(
        f"{where}: cannot structure {name}: {what} has a type with no structure hook "
        f"({_type_name(type_)}); add one with accutics_async.register_structure_hook()",
        kind="bad_item",
    )


def _bad_item(model: Any, item: Any, index: int, where: str, exc: Exception) -> DecodeError:
    name = getattr(model, "__name__", repr(model))
    # The field named is one that fails as the item did: the hook reads the
    # fields with a default first, so the first bad field declared need not
    # be the one it failed on, and a class with a hook of the user's own is
    # looked into only as far as its fields fail that way. If none does (a
    # type the walk cannot resolve), the first field that does not fit.
    try:
        field = _bad_field(model, item, _like(exc)) or _bad_field(model, item, _anything)
    except RecursionError:  # nested deeper than the walk can follow: the error says enough
        field = None
    what = f" field {field!r}:" if field else ""
    error = DecodeError(
        f"{where}: item {index} does not fit {name}:{what} {type(exc).__name__}: {_text(exc)}",
        kind="bad_item",
    )
    if isinstance(exc, (TypeError, ValueError, KeyError)):
        error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _fields(model: Any) -> list[attrs.Attribute[Any]]:
    """The fields of ``model`` an item fills, with their types resolved and bound, as the
    item hooks read them (:func:`generics.bound_fields`); none for annotations that do not
    resolve (nothing to point at)."""
    try:
        return bound_fields(model)
    except Exception:
        return []


def _field_without_hook(model: Any, prefix: str, seen: frozenset[Any]) -> tuple[str, Any] | None:
    """The dotted name and the type of the first field whose type the converter cannot structure.

    ``seen``: the classes on the way here, so that a class containing itself
    is not walked again.
    """
    seen = seen | {model}
    for field in _fields(model):
        found = _type_without_hook(field.type, f"{prefix}{field.name}", seen)
        if found is not None:
            return found
    return None


def _type_without_hook(tp: Any, path: str, seen: frozenset[Any]) -> tuple[str, Any] | None:
    if tp in seen:
        return None
    try:
        CONVERTER.get_structure_hook(tp)
    except RecursionError:  # a class that contains itself
        return None
    except Exception as exc:
        failed: Exception | None = exc
    else:
        failed = None
    # A class's hook fails for one of its fields; a union's or a container's
    # for a part, or (cattrs makes some of them without looking inside) not
    # at all until used: the innermost field or part at fault is named.
    found = _field_without_hook(tp, f"{path}.", seen) if failed is not None else None
    for part, part_path in _parts(tp, path):
        if found is not None:
            break
        found = _type_without_hook(part, part_path, seen)
    if found is None and failed is not None:
        found = path, getattr(failed, "type", None) or tp
    return found


_SEQUENCES = frozenset(
    {list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.MutableSequence}
    | {collections.abc.Set, collections.abc.MutableSet, collections.abc.Iterable}
)
_MAPPINGS = frozenset({dict, collections.abc.Mapping, collections.abc.MutableMapping})


def _parts(tp: Any, path: str) -> Iterator[tuple[Any, str]]:
    """What a value of ``tp`` is made of, each with its path: the members of a
    union (``X`` of ``X | None``), the elements of a sequence or set (``path[]``),
    the values of a mapping; nothing for any other type."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or origin is types.UnionType:
        yield from ((arg, path) for arg in args if arg is not type(None))
    elif origin in _SEQUENCES and args:
        yield from ((arg, f"{path}[]") for arg in args if arg is not Ellipsis)
    elif origin in _MAPPINGS and len(args) == 2:
        yield args[1], f"{path}[]"


#: Whether a part's own failure is the one being explained.
Explains = Callable[[Exception], bool]


def _like(exc: Exception) -> Explains:
    text = _text(exc)
    return lambda failure: type(failure) is type(exc) and _text(failure) == text


def _anything(failure: Exception) -> bool:
    return True


def _text(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception:  # an exception of the user's own that cannot say what it is
        return repr(exc.args)


def _bad_field(model: Any, value: Any, explains: Explains, prefix: str = "") -> str | None:
    """The dotted name of the first field of ``model`` that ``value`` cannot fill, failing
    as ``explains`` accepts."""
    if not isinstance(value, dict):
        return None
    for field in _fields(model):
        name = f"{prefix}{field.name}"
        if field.name not in value:
            if field.default is attrs.NOTHING and explains(KeyError(field.name)):
                return f"{name} (missing)"
            continue
        failure = _misfit(value[field.name], field.type)
        if failure is not None and explains(failure):
            return _bad_part(field.type, value[field.name], name, explains)
    return None


def _bad_part(tp: Any, value: Any, path: str, explains: Explains) -> str:
    """The path of what in ``value`` (which does not fit ``tp``) does not fit: ``path``
    itself, or a field, element or value inside it that fails as ``explains`` accepts."""
    optional = optional_arg(tp)
    if optional is not None and value is not None:  # X | None: the X is at fault
        return _bad_part(optional, value, path, explains)
    inner = _bad_element(get_origin(tp), get_args(tp), value, path, explains)
    if inner is not None:
        return inner
    return _bad_field(tp, value, explains, f"{path}.") or path


def _bad_element(
    origin: Any, args: tuple[Any, ...], value: Any, path: str, explains: Explains
) -> str | None:
    """The path of the first element (of a list, set or ``tuple[X, ...]``) or mapping value
    in ``value`` that does not fit, if ``value`` is such a container."""
    elements: Any = ()
    if origin in _SEQUENCES and args and args[1:] in ((), (Ellipsis,)) and type(value) is list:
        kind, elements = args[0], ((f"[{i}]", v) for i, v in enumerate(value))
    elif origin in _MAPPINGS and len(args) == 2 and type(value) is dict:
        kind, elements = args[1], ((f"[{k!r}]", v) for k, v in value.items())
    for where, element in elements:
        failure = _misfit(element, kind)
        if failure is not None and explains(failure):
            return _bad_part(kind, element, f"{path}{where}", explains)
    return None


def _misfit(value: Any, tp: Any) -> Exception | None:
    """What structuring ``value`` as ``tp`` raises, or ``None`` if it fits."""
    try:
        CONVERTER.structure(value, tp)
    except Exception as exc:
        # Without its frames: the walk keeps one failure per level it is down.
        return exc.with_traceback(None)
    return None
