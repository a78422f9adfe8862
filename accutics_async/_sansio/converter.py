"""The private cattrs converter (orjson preconf) and the structuring entry points.

Never the global cattrs converter: a user's own hooks on it must not change
how this library reads the API, and ours must not change theirs.
"""

from __future__ import annotations

import linecache
import weakref
from collections.abc import Callable, Mapping
from datetime import date, datetime
from operator import itemgetter
from typing import Any, TypeVar, get_args, get_origin
from uuid import UUID

import attrs
from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from . import isotime as _isotime
from .batch import Hooks, PageHook, make_page_hook, optional_arg
from .models import CursorPagination, Meta, PageNumberPagination, Record

__all__ = ["CONVERTER", "page_hook", "parse_datetime", "structure", "structure_meta"]

T = TypeVar("T")

# Keys that tell a cursor pagination object from a page-number one
# (API_BASICS.md lists the properties of each).
_CURSOR_KEYS = frozenset({"next_cursor", "cursor_param"})


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what}: expected {_kind_name(kind)}, got {type(value).__name__}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _structure_str(value: Any, _: Any) -> str:
    # cattrs' default is str(value), which would turn a number or a dict into
    # text silently; API fields of the wrong type are a decoding error here.
    if type(value) is str:
        return value
    return _expect(value, str, "string field")  # type: ignore[no-any-return]


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    return _expect(value, int, "integer field")  # type: ignore[no-any-return]


def _structure_float(value: Any, _: Any) -> float:
    return float(_expect(value, (int, float), "number field"))


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"boolean field: expected bool, got {type(value).__name__}")


_from_api_shape = _isotime.from_api_shape


def parse_datetime(value: Any, _: Any = None) -> datetime:
    """Parse an ISO 8601 timestamp (see ``isotime``); ``Z`` is UTC on every Python."""
    # The API's own shape first, tested inline (isotime.is_api_shape): this
    # hook runs for every timestamp of every record.
    if (
        value.__class__ is str
        and value[4::3] == "--T::Z"
        and len(value) == 20
        and value[:4].isdigit()
    ):
        return _from_api_shape(value)
    return _isotime.parse_datetime(_structure_str(value, None))


def _structure_date(value: Any, _: Any) -> date:
    return _isotime.parse_date(_structure_str(value, None))


def _structure_uuid(value: Any, _: Any) -> UUID:
    return UUID(_structure_str(value, None))


def _structure_cursor(value: Any, _: Any) -> str | None:
    # API_BASICS.md's example cursor is the number 255, so a numeric cursor
    # is accepted and kept as the text it will be sent back as.
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    return _structure_str(value, None)


def _optional_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    return parse_datetime(value)


def _optional_str(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return _structure_str(value, None)


def _person(value: Any) -> str | dict[str, Any] | None:
    if value is None or type(value) is str or type(value) is dict:
        return value
    raise TypeError(f"author/updater: expected object or string, got {type(value).__name__}")


# A record's input_*/output_* keys, per set of keys seen. Records of one
# account share a handful of shapes, so splitting the keys is done once per
# shape instead of two prefix tests per key per record. Bounded, so a server
# sending ever new keys cannot grow it without limit.
_Picker = Callable[[Mapping[str, Any]], tuple[Any, ...]]
_SHAPES: dict[tuple[str, ...], tuple[tuple[str, ...], _Picker, tuple[str, ...], _Picker]] = {}
_MAX_SHAPES = 256


def _picker(keys: tuple[str, ...]) -> _Picker:
    if len(keys) == 1:
        key = keys[0]
        return lambda value: (value[key],)
    if not keys:
        return lambda value: ()
    return itemgetter(*keys)


def _shape(keys: tuple[str, ...]) -> tuple[tuple[str, ...], _Picker, tuple[str, ...], _Picker]:
    shape = _SHAPES.get(keys)
    if shape is None:
        inputs = tuple(k for k in keys if k.startswith("input_"))
        outputs = tuple(k for k in keys if k.startswith("output_"))
        shape = (inputs, _picker(inputs), outputs, _picker(outputs))
        if len(_SHAPES) < _MAX_SHAPES:
            _SHAPES[keys] = shape
    return shape


def _structure_record(value: Any, _: Any) -> Record:
    # Hand-written because the input_*/output_* split is not a field mapping
    # cattrs can generate, and records are the hot path of typed exports.
    if type(value) is not dict:
        value = _expect(value, dict, "record")
    get = value.get
    inputs, pick_inputs, outputs, pick_outputs = _shape(tuple(value))
    return Record(
        id=_structure_str(value["id"], None),
        created_at=_optional_datetime(get("created_at")),
        updated_at=_optional_datetime(get("updated_at")),
        author=_person(get("author")),
        updater=_person(get("updater")),
        submission=_optional_str(get("submission")),
        match_status=_optional_str(get("match_status")),
        inputs=dict(zip(inputs, pick_inputs(value), strict=True)),
        outputs=dict(zip(outputs, pick_outputs(value), strict=True)),
    )


# -- generated structuring for plain attrs classes --------------------------------
#
# cattrs' generated hooks call a structuring function per field. Ours for
# str/int/float/bool are Python functions (they refuse a wrong JSON type
# instead of casting it), so a field costs a call even when its value is
# already right. The hook made here inlines the type test and calls the
# field's hook only for a value that is not of the exact type (to convert it
# or raise the same error), and parses ISO timestamps with one C call. It
# takes only classes whose every field it can express (fields in __init__
# under their own names, no generics); cattrs' own factory takes the rest.


_INLINE_TESTS = {
    str: _structure_str,
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
}

# The hooks made below (item hooks of attrs classes, list hooks): a page of
# such items is structured by one generated loop (batch.py) that gives what
# they give item by item, and builds them inline.
_GENERATED: weakref.WeakSet[Callable[[Any, Any], Any]] = weakref.WeakSet()
_GENERATED_LISTS: weakref.WeakSet[Callable[[Any, Any], Any]] = weakref.WeakSet()


def _is_plain_list(tp: Any) -> bool:
    """``list[X]`` for an X whose type test is inlined (``list[str]``, ``list[int]``...)."""
    args = get_args(tp)
    return get_origin(tp) is list and len(args) == 1 and args[0] in _INLINE_TESTS


def _make_list_hook(tp: Any, converter: Any) -> Callable[[Any, Any], list[Any]]:
    kind = get_args(tp)[0]
    item_hook = converter.get_structure_hook(kind)

    def structure_list(value: Any, _: Any) -> list[Any]:
        # A JSON array of the right type is copied in one C call; anything
        # else goes element by element through the element hook, as cattrs'
        # list hook does (converting, or raising its error).
        if value.__class__ is list:
            for element in value:
                if element.__class__ is not kind:
                    break
            else:
                return value.copy()
        return [item_hook(element, kind) for element in value]

    _GENERATED_LISTS.add(structure_list)
    return structure_list


def _fast_attrs(cl: Any) -> bool:
    """Whether :func:`_make_fast_hook` can express ``cl``'s structuring."""
    if not (isinstance(cl, type) and attrs.has(cl)):
        return False
    if getattr(cl, "__parameters__", None):  # a generic class: cattrs maps its type variables
        return False
    try:
        fields = attrs.fields(attrs.resolve_types(cl))
    except Exception:  # unresolvable annotations: cattrs reports them its own way
        return False
    return all(
        f.init and not f.kw_only and f.alias == f.name and f.type is not None
        and not isinstance(f.type, TypeVar)
        for f in fields
    )  # fmt: skip


def _field_step(index: int, tp: Any, converter: Any, ns: dict[str, Any], v: str) -> str:
    """One statement that turns variable ``v`` (the JSON value) into the field's value."""
    inner = optional_arg(tp)
    target = tp if inner is None else inner
    try:
        hook = converter.get_structure_hook(target)
    except RecursionError:  # a class that contains itself: look it up when used
        hook = converter.structure
    ns[f"h{index}"], ns[f"t{index}"] = hook, target
    call = f"h{index}({v}, t{index})"
    conditions = [] if inner is None else [f"{v} is not None"]
    if target in _INLINE_TESTS and hook is _INLINE_TESTS[target]:
        ns[f"k{index}"] = target
        conditions.append(f"{v}.__class__ is not k{index}")
    action = f"{v} = {call}"
    return f"if {' and '.join(conditions)}: {action}" if conditions else action


def _make_fast_hook(cl: Any, converter: Any) -> Callable[[Any, Any], Any]:
    ns: dict[str, Any] = {"cl": cl}
    # Fields with a default first, then the required ones, as cattrs orders
    # them: with several bad fields the same error comes out first.
    with_default = ["  res = {}"]
    required = []
    names = []
    for index, field in enumerate(attrs.fields(cl)):
        key = repr(field.name)
        if field.default is attrs.NOTHING:
            step = _field_step(index, field.type, converter, ns, f"a{index}")
            required += [f"  a{index} = o[{key}]", f"  {step}"]
            names.append(f"a{index}")
        else:
            step = _field_step(index, field.type, converter, ns, "v")
            with_default += [f"  if {key} in o:", f"    v = o[{key}]", f"    {step}"]
            with_default.append(f"    res[{key}] = v")
    if len(with_default) > 1:
        names.append("**res")
    else:
        with_default = []
    lines = ["def structure(o, _=None):", *with_default, *required]
    source = "\n".join([*lines, f"  return cl({', '.join(names)})", ""])
    filename = f"<accutics_async structure {cl.__module__}.{cl.__qualname__}>"
    # Registered with linecache so that a traceback through it shows the code.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    hook: Callable[[Any, Any], Any] = ns["structure"]
    _GENERATED.add(hook)
    return hook


# Per model: the item hook a page hook was made for, and the page hook. A
# hook registered later makes cattrs build a new item hook, and so a new
# page hook here. Bounded like _SHAPES.
_PAGE_HOOKS: dict[Any, tuple[Callable[[Any, Any], Any], PageHook]] = {}


def page_hook(model: Any, item: Callable[[Any, Any], Any]) -> PageHook:
    """A function structuring a list of JSON items as ``item`` (``model``'s hook) would.

    Raises whatever ``item`` would raise for an item, or another exception
    for an item that does not fit: the caller re-runs ``item`` to tell.
    """
    cached = _PAGE_HOOKS.get(model)
    if cached is not None and cached[0] is item:
        return cached[1]
    if item in _GENERATED:
        page = make_page_hook(model, item, _HOOKS)
    else:

        def page(data: list[Any]) -> list[Any]:
            return [item(value, model) for value in data]

    if len(_PAGE_HOOKS) < _MAX_SHAPES:
        _PAGE_HOOKS[model] = (item, page)
    return page


def _zulu(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _unstructure_record(record: Record) -> dict[str, Any]:
    # Back to the API's flat shape (timestamps in Zulu, as the API writes
    # them), so exporting Record items writes what exporting dicts writes.
    flat: dict[str, Any] = {
        "id": record.id,
        "created_at": _zulu(record.created_at),
        "updated_at": _zulu(record.updated_at),
        "author": record.author,
        "updater": record.updater,
        "submission": record.submission,
        "match_status": record.match_status,
    }
    flat.update(record.inputs)
    flat.update(record.outputs)
    return flat


def build_converter() -> OrjsonConverter:
    """Build the library's converter.

    Starts from cattrs' orjson preconf converter without detailed validation
    (it is several times slower and our boundary adds context itself), then:

    - ``str``, ``int``, ``float``, ``bool``: the JSON type must match; no
      silent ``str(123)`` or ``int("7")``; ``bool`` is not an ``int``.
    - ``datetime``: ISO 8601, ``Z`` suffix accepted on Python 3.10 too.
    - ``date`` and ``UUID``: from their ISO/hex string forms.
    - ``CursorPagination``: ``next_cursor`` may be a string or an integer.
    - ``Record``: ``input_*``/``output_*`` keys gathered into two mappings;
      unstructured back into the API's flat shape.
    - other attrs classes: a generated hook that tests str/int/float/bool
      values inline and parses timestamps directly (``_make_fast_hook``),
      where the class allows it; cattrs' generated hook otherwise.
    - ``list[str]`` (and of int, float, bool): copied at once when every
      element has the exact type, else element by element as above.

    Unknown keys in JSON objects are ignored everywhere (cattrs' default).
    """
    converter = make_converter(detailed_validation=False)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(UUID, _structure_uuid)
    converter.register_structure_hook_factory(
        _is_plain_list, lambda tp: _make_list_hook(tp, converter)
    )
    converter.register_structure_hook_factory(
        _fast_attrs, lambda cl: _make_fast_hook(cl, converter)
    )
    converter.register_structure_hook(
        CursorPagination,
        make_dict_structure_fn(
            CursorPagination, converter, next_cursor=override(struct_hook=_structure_cursor)
        ),
    )
    converter.register_structure_hook(Record, _structure_record)
    converter.register_unstructure_hook(Record, _unstructure_record)
    return converter


CONVERTER = build_converter()
_HOOKS = Hooks(CONVERTER, _INLINE_TESTS, parse_datetime, _GENERATED, _GENERATED_LISTS)


def structure(value: Any, model: type[T]) -> T:
    """Structure one JSON value into ``model``; raises ``ValueError``/``TypeError``/``KeyError``."""
    return CONVERTER.structure(value, model)


def structure_meta(raw: Any) -> Meta:
    """Build :class:`Meta` from the envelope's ``meta`` object.

    The pagination style is detected from the keys present, so no endpoint
    needs to be configured. Raises ``TypeError`` for a malformed ``meta``.
    """
    if raw is None:
        return Meta()
    raw = _expect(raw, dict, "meta")
    endpoint = _optional_str(raw.get("endpoint"))
    pagination_raw = raw.get("pagination")
    pagination: PageNumberPagination | CursorPagination | None = None
    if pagination_raw is not None:
        keys: Mapping[str, Any] = _expect(pagination_raw, dict, "meta.pagination")
        if _CURSOR_KEYS.intersection(keys):
            pagination = CONVERTER.structure(keys, CursorPagination)
        else:
            pagination = CONVERTER.structure(keys, PageNumberPagination)
    return Meta(endpoint=endpoint, pagination=pagination, raw=raw)
