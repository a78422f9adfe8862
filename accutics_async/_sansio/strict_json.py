"""Strict JSON for the envelope: orjson speed, but no ambiguous duplicate keys.

Pure (no I/O); ``envelope``'s decoders call :func:`load_envelope` and :func:`load_meta`.

Why: orjson, like most JSON parsers, silently keeps the *last* of duplicate
keys, while other parsers keep the first. A body such as
``{"meta": {"pagination": {"next": A, "next": B}}}`` means A to one reader
and B to another; whatever a proxy or a log viewer checked, this client
could follow the other link. So the library refuses duplicates where it
takes decisions from the body:

- **Refused**: a key repeated in any object of the envelope outside ``data``,
  i.e. the top level, ``meta`` and everything in it (``meta.pagination``
  above all) and, for error answers, ``error`` and everything in it.
  ``DecodeError(kind="duplicate_key")`` for a 2xx; an error answer with
  duplicates is treated as a body that is not the error envelope.
- **Kept, last wins**: duplicates inside ``data`` (the records). The library
  takes no decision from a record's content and passes it through as the
  API sent it; checking every record would cost a second full parse of
  every page (about as much again as orjson itself). Escaped spellings
  (``"n\\u0065xt"``) count as the key they decode to.

How it stays cheap: the documented envelope, ``{"data": D, "meta": M}`` in
either order (or ``{"data": D}`` alone), is split at the second key, found
with one ``rfind``/``find`` from the near end; D and M are parsed by orjson
separately. Each part parsing as exactly one JSON value *proves* the split
(a wrong split leaves trailing text, which orjson refuses), so the top level
has exactly those keys. M is then proved free of repeats without a second
parse in the common case: if orjson's re-encoding of M is byte-identical
to M's text, that text *is* the encoding of a dict, which holds each key
once. Otherwise (other spacing, escapes, float spellings) M is parsed
again by the stdlib ``json`` module with an ``object_pairs_hook`` that sees
every key. Any other layout is parsed whole by orjson and then checked
exactly with the stdlib parser, once.

:func:`load_meta` reads M alone, so a pager can ask for the next page
before the page's data is parsed; :func:`load_envelope` then reads both.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["DuplicateKeyError", "load_envelope", "load_meta", "loads_checked"]

# RFC 8259 whitespace; ``\s`` would also take \f and \v, which JSON does not.
_WS = frozenset(b" \t\r\n")
_HEAD = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"(data|meta)"[ \t\r\n]*:')
_COLON = re.compile(rb"[ \t\r\n]*:")
_CLOSE_BRACE = 0x7D
_COMMA = 0x2C


class DuplicateKeyError(ValueError):
    """A key repeated in an object where the library refuses it; ``where`` names the object."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"duplicate key {key!r} in {where}")
        self.key = key
        self.where = where


class _Repeated(dict[str, Any]):
    """An object that had a repeated key (the stdlib parser's view), marked for the walk."""

    repeated: str = ""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Repeated(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.repeated = key
            break
        seen.add(key)
    return marked


_STRICT = json.JSONDecoder(object_pairs_hook=_pairs_hook)


# How deep the text handed to the stdlib parser may nest. Explicit, because
# where that parser gives up depends on the interpreter (Python 3.11 stops
# near its recursion limit, about 1000 less the caller's stack; 3.12+ use a
# C stack limit and go far deeper), and the verdict must not. The API's
# envelope is a few levels deep.
MAX_CHECKED_DEPTH = 512


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), iteratively."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest if isinstance(value, (dict, list)) else 0


def _stdlib(text: bytes | memoryview, parsed: Any) -> Any:
    """Parse with the stdlib (objects with repeats marked); ValueError if it cannot.

    ``parsed`` is orjson's reading of the same text, used for the depth check.
    """
    if _depth(parsed) > MAX_CHECKED_DEPTH:
        raise ValueError(
            f"nested more than {MAX_CHECKED_DEPTH} levels: too deep to check for duplicate keys"
        )
    try:
        return _STRICT.decode(bytes(text).decode("utf-8"))
    except RecursionError:
        # Only with a caller stack already near the recursion limit.
        raise ValueError("nested too deeply to check for duplicate keys") from None


def _refuse_repeats(value: Any, where: str) -> None:
    """Raise ``DuplicateKeyError`` for the first marked object in ``value`` (iteratively)."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            if isinstance(item, _Repeated):
                raise DuplicateKeyError(item.repeated, path)
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))


def _refuse_repeats_in(text: memoryview, parsed: Any, where: str) -> None:
    """Raise ``DuplicateKeyError`` if ``text`` (parsed as ``parsed``) repeats a key.

    A canonical text needs no second parse: see the module docstring. orjson
    refuses to encode past 254 levels, far inside MAX_CHECKED_DEPTH, so the
    shortcut never passes a text the exact check would call too deep.
    """
    try:
        # Against bytes, not the view: a memoryview compares byte by byte in
        # Python's struct-unpacking loop, bytes with one memcmp.
        if orjson.dumps(parsed) == text.tobytes():
            return
    except orjson.JSONEncodeError:
        pass
    _refuse_repeats(_stdlib(text, parsed), where)


def loads_checked(body: bytes, *, outside: str = "data") -> Any:
    """``orjson.loads(body)``, then refuse repeated keys everywhere except under ``outside``.

    The exact (slow) check: the stdlib parser runs over the whole body. Raises
    ``orjson.JSONDecodeError`` for invalid JSON, ``DuplicateKeyError``, or
    ``ValueError`` if the body cannot be checked (nested too deeply).
    """
    doc = orjson.loads(body)
    if isinstance(doc, dict):
        strict = _stdlib(body, doc)
        if isinstance(strict, _Repeated):
            raise DuplicateKeyError(strict.repeated, "the envelope's top level")
        for key, value in strict.items():
            if key != outside:
                _refuse_repeats(value, key)
    return doc


def _split(body: bytes) -> tuple[str, slice, slice | None] | None:
    """``(first key, span of its value, span of the other value)`` for the documented layout."""
    head = _HEAD.match(body)
    if head is None:
        return None
    end = len(body)
    while end and body[end - 1] in _WS:
        end -= 1
    close = end - 1
    if close <= head.end() or body[close] != _CLOSE_BRACE:
        return None
    first = head.group(1).decode()
    start = head.end()
    # The second key is near the end when data comes first (meta is small),
    # near the start when meta comes first: search from the near side.
    if first == "data":
        key = body.rfind(b'"meta"', start, close)
    else:
        key = body.find(b'"data"', start, close)
    if key < 0:
        return (first, slice(start, close), None) if first == "data" else None
    sep = key - 1
    while sep > start and body[sep] in _WS:
        sep -= 1
    colon = _COLON.match(body, key + 6)
    if body[sep] != _COMMA or colon is None:
        return None
    return first, slice(start, sep), slice(colon.end(), close)


def load_envelope(body: bytes, read_meta: Any = None) -> Any:
    """Parse a response body; for an envelope, refuse repeated keys outside ``data``.

    Returns the parsed JSON value (normally the envelope dict). Raises
    ``orjson.JSONDecodeError`` for invalid JSON, ``DuplicateKeyError`` for an
    ambiguous envelope, ``ValueError`` if it cannot be checked.

    ``read_meta``, if not ``None``, is what :func:`load_meta` read of this
    body: it is taken as the meta without a second parse when this body's
    meta text is exactly its compact encoding (which also proves no key
    repeats, see above), so a meta read from another body is never taken.
    """
    split = _split(body)
    if split is not None:
        first, first_span, second_span = split
        view = memoryview(body)
        if read_meta is not None and second_span is not None:
            doc = _with_meta_read(view, first, first_span, second_span, read_meta)
            if doc is not None:
                return doc
        try:
            first_value = orjson.loads(view[first_span])
            second_value = None if second_span is None else orjson.loads(view[second_span])
        except orjson.JSONDecodeError:
            pass  # not this layout after all (or not JSON): the slow path decides
        else:
            if second_span is None:
                return {first: first_value}
            data, meta = (
                (first_value, second_value) if first == "data" else (second_value, first_value)
            )
            if isinstance(meta, (dict, list)):
                meta_span = second_span if first == "data" else first_span
                _refuse_repeats_in(view[meta_span], meta, "meta")
            # The key order of the body, as orjson would have kept it.
            return {"data": data, "meta": meta} if first == "data" else {"meta": meta, "data": data}
    return loads_checked(body)


def _with_meta_read(
    view: memoryview, first: str, first_span: slice, second_span: slice, meta: Any
) -> dict[str, Any] | None:
    """The envelope from its data span and the meta already read, if the meta span spells
    exactly that meta; ``None`` otherwise, and :func:`load_envelope` decides."""
    data_span, meta_span = (
        (first_span, second_span) if first == "data" else (second_span, first_span)
    )
    try:
        if orjson.dumps(meta) != view[meta_span].tobytes():
            return None
        data = orjson.loads(view[data_span])
    except (orjson.JSONEncodeError, orjson.JSONDecodeError):
        return None  # not this layout after all, or a meta orjson does not write back
    return {"data": data, "meta": meta} if first == "data" else {"meta": meta, "data": data}


def load_meta(body: bytes) -> Any:
    """The envelope's ``meta`` alone, parsed and checked; ``None`` if it is not that cheap.

    ``None`` when the body is not the documented layout, has no ``meta``, or
    its ``meta`` is not one JSON value free of repeated keys: whoever asks
    then waits for :func:`load_envelope`, which decides. A wrongly placed
    split cannot pass here either: the span then ends in the closing
    brackets of the objects around the key, so it is not one JSON value.
    """
    split = _split(body)
    if split is None:
        return None
    first, first_span, second_span = split
    span = second_span if first == "data" else first_span
    if span is None:
        return None
    view = memoryview(body)[span]
    try:
        meta = orjson.loads(view)
        if isinstance(meta, (dict, list)):
            _refuse_repeats_in(view, meta, "meta")
    except ValueError:  # not JSON, a repeated key, or too deep to check
        return None
    return meta
