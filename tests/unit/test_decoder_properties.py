"""Property tests: whatever the server sends, the pure functions answer with our types.

A response decoder that leaks ``KeyError`` or ``TypeError`` on a strange
body turns one bad answer into a crash the caller cannot catch by type.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import (
    AccuticsError,
    APIError,
    CursorPagination,
    DecodeError,
    Meta,
    PageNumberPagination,
    Response,
)
from accutics_async._sansio.envelope import decode_response
from accutics_async._sansio.protocol import (
    build_url,
    encode_params,
    parse_retry_after,
    resolve_link,
)
from accutics_async.errors import error_class_for

BASE = "https://api.example.com/v1"

statuses = st.one_of(
    st.sampled_from([200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504]),
    st.integers(min_value=100, max_value=599),
)
# orjson writes integers of up to 64 bits.
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
urls = st.one_of(st.none(), st.just(f"{BASE}/records?page=2"), st.text(max_size=30), json_values)
page_number = st.fixed_dictionaries(
    {},
    optional={
        "first": urls,
        "previous": urls,
        "current": urls,
        "next": urls,
        "last": urls,
        "items_per_page": st.one_of(ints, json_values),
        "total_items": st.one_of(ints, json_values),
        "page_param": st.one_of(st.just("page"), json_values),
        "size_param": st.one_of(st.just("page_size"), json_values),
    },
)
cursor = st.fixed_dictionaries(
    {},
    optional={
        "next_cursor": st.one_of(st.none(), ints, st.text(max_size=10), json_values),
        "cursor_param": st.one_of(st.just("cursor"), json_values),
        "next": urls,
        "current": urls,
        "items_per_page": st.one_of(ints, json_values),
        "size_param": st.one_of(st.just("page_size"), json_values),
    },
)
metas = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "endpoint": st.one_of(st.text(max_size=20), json_values),
            "pagination": st.one_of(page_number, cursor, json_values),
            "request_id": json_values,
        },
    ),
)
success_envelopes = st.fixed_dictionaries({"data": json_values}, optional={"meta": metas})
error_envelopes = st.fixed_dictionaries(
    {},
    optional={
        "error": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "code": st.one_of(
                        st.sampled_from(["invalid_route", "authorization", "x"]), json_values
                    ),
                    "message": st.one_of(st.text(max_size=30), json_values),
                    "data": json_values,
                },
            ),
        ),
        "meta": metas,
        "data": json_values,
    },
)
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "Content-Type", "X-Other"]),
    st.text(max_size=40),
    max_size=3,
)


def check(status: int, hdrs: dict[str, str], body: bytes) -> Response | None:
    """Decode and assert the outcome is one of ours; return the Response, if any."""
    error: AccuticsError | None = None
    try:
        resp = decode_response(status, hdrs, body, url=f"{BASE}/records")
    except AccuticsError as caught:
        error = caught
    if isinstance(error, APIError):
        assert not 200 <= status < 300
        assert error.status == status
        assert type(error) is error_class_for(status, error.code)
        assert error.code is None or isinstance(error.code, str)
        assert isinstance(error.message, str)
        assert isinstance(error.data, dict)
        assert error.endpoint is None or isinstance(error.endpoint, str)
        assert error.retry_after is None or error.retry_after >= 0.0
        assert str(error)
        assert repr(error)
        return None
    if error is not None:
        assert type(error) is DecodeError
        assert 200 <= status < 300
        assert error.status == status
        assert error.kind in {"not_json", "not_envelope", "bad_meta"}
        return None
    assert 200 <= status < 300
    assert isinstance(resp, Response)
    assert resp.status == status
    assert isinstance(resp.meta, Meta)
    assert resp.meta.pagination is None or isinstance(
        resp.meta.pagination, (PageNumberPagination, CursorPagination)
    )
    return resp


@given(statuses, headers, st.binary(max_size=200))
def test_random_bytes(status: int, hdrs: dict[str, str], body: bytes) -> None:
    check(status, hdrs, body)


@given(statuses, headers, json_values)
def test_random_json(status: int, hdrs: dict[str, str], value: Any) -> None:
    check(status, hdrs, orjson.dumps(value))


@given(statuses, headers, success_envelopes)
def test_random_success_envelopes(status: int, hdrs: dict[str, str], doc: dict[str, Any]) -> None:
    resp = check(status, hdrs, orjson.dumps(doc))
    if resp is not None and status != 204:
        assert resp.data == doc["data"]
        meta = doc.get("meta")
        assert resp.meta.raw == (meta or {})


@given(statuses, headers, error_envelopes)
def test_random_error_envelopes(status: int, hdrs: dict[str, str], doc: dict[str, Any]) -> None:
    check(status, hdrs, orjson.dumps(doc))


@given(statuses, json_values)
def test_truncated_json(status: int, value: Any) -> None:
    body = orjson.dumps({"data": value, "meta": {"endpoint": "e"}})
    for cut in range(1, len(body)):
        check(status, {}, body[:cut])


@given(st.integers(min_value=200, max_value=299).filter(lambda s: s != 204))
def test_huge_and_deep_json_is_still_ours(status: int) -> None:
    check(status, {}, b'{"data": ' + b"9" * 400 + b"}")
    check(status, {}, b"[" * 5000 + b"]" * 5000)
    check(status, {}, json.dumps({"data": 2**200}).encode())


@given(st.one_of(st.none(), st.text(max_size=60)))
def test_parse_retry_after_never_raises(value: str | None) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0.0


@given(st.text(max_size=60))
def test_build_url_answers_with_a_url_or_our_error(path: str) -> None:
    try:
        url = build_url(BASE, path)
    except AccuticsError:
        return
    assert url.startswith("https://api.example.com")


@given(st.lists(st.text(max_size=12), max_size=4))
def test_build_url_segments(segments: list[str]) -> None:
    try:
        url = build_url(BASE, segments)
    except AccuticsError:
        return
    assert url.startswith(f"{BASE}/")
    # Each segment stays one segment, whatever it contains.
    assert url[len(BASE) + 1 :].count("/") == len(segments) - 1


@given(st.text(max_size=60))
def test_resolve_link_answers_with_a_url_or_our_error(link: str) -> None:
    try:
        url = resolve_link(f"{BASE}/records?page=1", link, BASE)
    except AccuticsError:
        return
    assert url.lower().startswith("https://api.example.com")


@given(st.dictionaries(st.text(max_size=8), st.one_of(json_scalars, json_values), max_size=4))
def test_encode_params_answers_with_pairs_or_our_error(params: dict[str, Any]) -> None:
    try:
        pairs = encode_params(params)
    except AccuticsError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
