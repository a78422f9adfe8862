"""The meta read before the data: what ``peek_meta`` reads is what the full decode reads.

A pager puts the next page's request on the wire from ``peek_meta``'s answer,
before the page's data is parsed; the full decode then confirms it. So the
two must agree for every body the full decode accepts, and ``peek_meta``
must refuse (``None``) whatever is ambiguous. The duplicate-key check of
``meta`` also has a shortcut (an orjson re-encoding byte-identical to the
text proves there is no repeat): its verdict must be the exact check's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_decoder_properties import json_values, metas

from accutics_async import DecodeError
from accutics_async._sansio.envelope import decode_response, peek_meta
from accutics_async._sansio.strict_json import DuplicateKeyError, load_envelope, load_meta

# Keys from a small alphabet, so that generated objects repeat keys often.
keys = st.sampled_from(["a", "b", "next", "n\\u0065xt", "pagination", "data", "meta"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5))


def _pairs(children: Any) -> Any:
    return st.lists(st.tuples(keys, children), max_size=4).map(lambda kv: ("obj", kv))


# A JSON value as written, objects as lists of (key, value) pairs: repeats allowed.
written = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), _pairs(children)),
    max_leaves=10,
)
spacing = st.sampled_from(["", " ", "\n  "])


def render(value: Any, gap: str) -> str:
    """``value`` as JSON text; with ``gap == ""`` exactly as orjson writes it (if no repeats)."""
    if isinstance(value, tuple) and value and value[0] == "obj":
        body = ("," + gap).join(f'"{k}":{gap}{render(v, gap)}' for k, v in value[1])
        return "{" + body + "}"
    if isinstance(value, list):
        return "[" + ("," + gap).join(render(v, gap) for v in value) + "]"
    return orjson.dumps(value).decode()


def repeats_a_key(text: str) -> bool:
    """The reference: does any object in ``text`` name a key twice (escapes decoded)?"""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        found = found or len({k for k, _ in pairs}) != len(pairs)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return found


@given(written.map(lambda v: ("obj", [("x", v)])), spacing, st.booleans())
def test_the_meta_check_refuses_exactly_the_texts_that_repeat_a_key(
    meta: Any, gap: str, data_first: bool
) -> None:
    text = render(meta, gap)
    parts = ['"data":[{"id":1}]', f'"meta":{text}']
    body = ("{" + ",".join(parts if data_first else parts[::-1]) + "}").encode()
    if repeats_a_key(text):
        with pytest.raises(DuplicateKeyError):
            load_envelope(body)
        assert load_meta(body) is None
    else:
        assert load_envelope(body)["meta"] == json.loads(text)
        # None when the cheap split does not apply (a "data" key inside a
        # meta that comes first): the pager then waits for the full decode.
        assert load_meta(body) in (None, json.loads(text))


@given(written.map(lambda v: ("obj", [("x", v)])), spacing, st.booleans(), metas)
def test_a_meta_read_from_another_body_is_never_taken_for_this_one(
    meta: Any, gap: str, data_first: bool, other: Any
) -> None:
    text = render(meta, gap)
    parts = ['"data":[{"id":1}]', f'"meta":{text}']
    body = ("{" + ",".join(parts if data_first else parts[::-1]) + "}").encode()
    foreign = load_meta(orjson.dumps({"data": [], "meta": other}))
    if repeats_a_key(text):
        with pytest.raises(DuplicateKeyError):
            load_envelope(body, foreign)
    else:
        assert load_envelope(body, foreign)["meta"] == json.loads(text)


@given(
    st.fixed_dictionaries({"data": json_values}, optional={"meta": metas}),
    st.booleans(),
    st.sampled_from([None, 2]),
)
def test_a_meta_read_first_is_the_meta_the_full_decode_reads(
    envelope: dict[str, Any], meta_first: bool, indent: int | None
) -> None:
    if meta_first and "meta" in envelope:
        envelope = {"meta": envelope["meta"], "data": envelope["data"]}
    body = json.dumps(envelope, indent=indent).encode()
    early = peek_meta(200, body)
    try:
        decoded = decode_response(200, {}, body)
    except DecodeError:
        return  # nothing is handed out: whatever was started early is dropped
    if early is not None:
        assert early == decoded.meta
        # Given what was read first, the decode parses only the data, and
        # reads the same envelope.
        again = decode_response(200, {}, body, read_meta=early)
        assert again.meta is early
        assert again.data == decoded.data


@given(st.binary(max_size=200) | json_values.map(lambda v: orjson.dumps(v)))
def test_peek_meta_never_raises(body: bytes) -> None:
    for status in (200, 204, 301, 404, 500):
        peek_meta(status, body)


def test_a_page_whose_data_is_broken_is_refused_whatever_its_meta_said() -> None:
    # The meta alone reads fine (so a pager may start the next page), the
    # page does not: it is retried or raised, and the early request dropped.
    body = b'{"data":[{"id":1},],"meta":{"pagination":{"next_cursor":"c"}}}'
    assert peek_meta(200, body) is not None
    with pytest.raises(DecodeError):
        decode_response(200, {}, body)


def test_a_meta_key_inside_the_meta_is_not_taken_for_the_envelope_s() -> None:
    # The split lands on the inner key; the text after it is not one JSON
    # value, so nothing is read early, and the full decode reads it right.
    body = b'{"data":[],"meta":{"x":1,"meta":{"pagination":{"next_cursor":"c"}}}}'
    assert peek_meta(200, body) is None
    assert decode_response(200, {}, body).meta.raw["x"] == 1


def test_a_canonical_meta_with_a_repeated_key_cannot_be_canonical() -> None:
    # orjson keeps the last copy and writes each key once: the re-encoding is
    # shorter than the text, so the shortcut never vouches for it.
    body = b'{"data":[],"meta":{"pagination":{"next":"a","next":"b"}}}'
    with pytest.raises(DuplicateKeyError):
        load_envelope(body)
    assert peek_meta(200, body) is None
