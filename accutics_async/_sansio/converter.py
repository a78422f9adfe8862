"""The private cattrs converter (orjson preconf) and the structuring entry points.

Never the global cattrs converter: a user's own hooks on it must not change
how this library reads the API, and ours must not change theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from operator import itemgetter
from typing import Any, TypeVar, get_args, get_origin
from uuid import UUID

from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from . import isotime as _isotime
from .generated import Hooks, PageHook, fast_attrs, make_item_hook, make_page_hook
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


_TEXT_OR_NULL = frozenset({str, type(None)})
_PERSON_KINDS = frozenset({str, dict, type(None)})  # what _person takes


def _structure_record_page(data: list[Any]) -> list[Record]:
    # The record hook's work for a page, its calls inlined, for records whose
    # fields have the JSON types the API sends; any other record is handed
    # to the record hook whole, which converts it or raises.
    out: list[Record] = []
    append = out.append
    for value in data:
        if value.__class__ is dict:
            get = value.get
            rid, created, updated = get("id"), get("created_at"), get("updated_at")
            author, updater = get("author"), get("updater")
            submission, status = get("submission"), get("match_status")
            if (
                rid.__class__ is str
                and submission.__class__ in _TEXT_OR_NULL
                and status.__class__ in _TEXT_OR_NULL
                and author.__class__ in _PERSON_KINDS
                and updater.__class__ in _PERSON_KINDS
            ):
                inputs, pick_inputs, outputs, pick_outputs = _shape(tuple(value))
                record = Record(
                    rid,
                    None if created is None else parse_datetime(created),
                    None if updated is None else parse_datetime(updated),
                    author,
                    updater,
                    submission,
                    status,
                    dict(zip(inputs, pick_inputs(value), strict=True)),
                    dict(zip(outputs, pick_outputs(value), strict=True)),
                )
                append(record)
                continue
        append(_structure_record(value, Record))
    return out


# -- generated structuring for plain attrs classes (see generated.py) ------------

# The types whose hooks refuse a wrong JSON type instead of casting it: the
# generated hooks test these inline and call the hook only for another type.
_INLINE_TESTS = {
    str: _structure_str,
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
}


def _is_plain_list(tp: Any) -> bool:
    """``list[X]`` for an X whose type test is inlined (``list[str]``, ``list[int]``...)."""
    args = get_args(tp)
    return get_origin(tp) is list and len(args) == 1 and args[0] in _INLINE_TESTS


def _make_list_hook(tp: Any, hooks: Hooks) -> Callable[[Any, Any], list[Any]]:
    kind = get_args(tp)[0]
    item_hook = hooks.converter.get_structure_hook(kind)

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
        elif not isinstance(value, list):
            # Iterating a string or an object would hand out its letters or keys.
            raise TypeError(f"list field: expected list, got {type(value).__name__}")
        return [item_hook(element, kind) for element in value]

    hooks.lists.add(structure_list)  # the page hook copies such lists inline
    return structure_list


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
    if item in _HOOKS.objects:
        page = make_page_hook(model, item, _HOOKS)
    elif item is _structure_record:
        page = _structure_record_page
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


def build_converter() -> tuple[OrjsonConverter, Hooks]:
    """Build the library's converter, and what ``generated`` knows of its hooks.

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
      values inline and parses timestamps directly (``generated``), where
      the class allows it; cattrs' generated hook otherwise.
    - ``list[str]`` (and of int, float, bool): copied at once when every
      element has the exact type, else element by element as above.

    Unknown keys in JSON objects are ignored everywhere (cattrs' default).
    """
    converter = make_converter(detailed_validation=False)
    hooks = Hooks(converter, _INLINE_TESTS, parse_datetime)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(UUID, _structure_uuid)
    converter.register_structure_hook_factory(_is_plain_list, lambda tp: _make_list_hook(tp, hooks))
    converter.register_structure_hook_factory(fast_attrs, lambda cl: make_item_hook(cl, hooks))
    converter.register_structure_hook(
        CursorPagination,
        make_dict_structure_fn(
            CursorPagination, converter, next_cursor=override(struct_hook=_structure_cursor)
        ),
    )
    converter.register_structure_hook(Record, _structure_record)
    converter.register_unstructure_hook(Record, _unstructure_record)
    return converter, hooks


CONVERTER, _HOOKS = build_converter()


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
