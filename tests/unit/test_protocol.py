"""The pure protocol functions, driven by the recorded samples in tests/samples/."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from accutics_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    CursorPagination,
    DecodeError,
    InvalidRequestError,
    InvalidRouteError,
    Meta,
    NotFoundError,
    PageNumberPagination,
    PermissionDeniedError,
    RateLimitError,
    Response,
    ServerError,
    UnprocessableEntityError,
    UnsafeURLError,
)
from accutics_async._sansio.envelope import body_excerpt, decode_response
from accutics_async._sansio.protocol import (
    build_url,
    check_same_origin,
    encode_params,
    is_loopback_url,
    parse_retry_after,
    resolve_link,
    retry_after_of,
    validate_base_url,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
BASE = "https://api.example.com/v1"


def load_sample(name: str) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of ``tests/samples/<name>.json`` (format in its README)."""
    path = SAMPLES / f"{name}.json"
    case = orjson.loads(path.read_bytes())
    if "json" in case:
        body = orjson.dumps(case["json"])
    elif "body_file" in case:
        body = (path.parent / case["body_file"]).read_bytes()
    else:
        body = case["body"].encode()
    return case["status"], dict(case["headers"]), body


def sample_names(folder: str = "") -> list[str]:
    root = SAMPLES / folder if folder else SAMPLES
    return sorted(p.relative_to(SAMPLES).with_suffix("").as_posix() for p in root.rglob("*.json"))


def decode(name: str) -> Response:
    status, headers, body = load_sample(name)
    return decode_response(status, headers, body, url=f"{BASE}/records")


def raises(cls: type[APIError], status: int, headers: dict[str, str], body: bytes) -> APIError:
    """The error ``decode_response`` raises, checked to be a ``cls``."""
    with pytest.raises(cls) as info:
        decode_response(status, headers, body)
    return info.value


def decode_error(name: str) -> APIError:
    with pytest.raises(APIError) as info:
        decode(name)
    return info.value


# -- success envelopes --------------------------------------------------------


def test_index_with_page_number_pagination() -> None:
    resp = decode("success/index_page_number")
    assert resp.status == 200
    assert resp.url == f"{BASE}/records"
    assert isinstance(resp.data, list)
    assert [item["id"] for item in resp.data] == [
        "e1eec316-d74a-3755-88fa-046e1b50aee1",
        "550e8400-e29b-41d4-a716-446655440000",
    ]
    assert resp.meta.endpoint == "records.index"
    assert resp.meta.pagination == PageNumberPagination(
        first=f"{BASE}/records?page=1&page_size=2",
        previous=f"{BASE}/records?page=1&page_size=2",
        current=f"{BASE}/records?page=2&page_size=2",
        next=f"{BASE}/records?page=3&page_size=2",
        last=f"{BASE}/records?page=3&page_size=2",
        items_per_page=2,
        total_items=5,
        page_param="page",
        size_param="page_size",
    )
    assert resp.headers["Content-Type"] == "application/json"


def test_last_page_number_page_has_no_next() -> None:
    pagination = decode("success/index_page_number_last").meta.pagination
    assert isinstance(pagination, PageNumberPagination)
    assert pagination.next is None
    assert pagination.previous == f"{BASE}/records?page=2&page_size=2"


def test_index_with_cursor_pagination_and_numeric_cursor() -> None:
    resp = decode("success/index_cursor")
    assert resp.meta.endpoint == "records.cursor"
    # API_BASICS.md's example next_cursor is the number 255; it is kept as the
    # text it will be sent back as.
    assert resp.meta.pagination == CursorPagination(
        next_cursor="255",
        next=f"{BASE}/records/cursor?page_size=2&cursor=255",
        items_per_page=2,
        current=f"{BASE}/records/cursor?page_size=2",
        size_param="page_size",
        cursor_param="cursor",
    )
    assert resp.meta.raw["pagination"]["next_cursor"] == 255


def test_cursor_pagination_with_string_cursor() -> None:
    pagination = decode("success/index_cursor_string").meta.pagination
    assert isinstance(pagination, CursorPagination)
    assert pagination.next_cursor == "eyJrIjoyNTV9"


def test_last_cursor_page_has_null_cursor() -> None:
    resp = decode("success/index_cursor_last")
    assert resp.data == []
    assert isinstance(resp.meta.pagination, CursorPagination)
    assert resp.meta.pagination.next_cursor is None
    assert resp.meta.pagination.next is None


def test_index_with_one_entity_is_a_list() -> None:
    resp = decode("success/index_single_item")
    assert isinstance(resp.data, list)
    assert len(resp.data) == 1
    assert resp.meta.pagination is None


def test_show_returns_the_object() -> None:
    resp = decode("success/show_object")
    assert isinstance(resp.data, dict)
    assert resp.data["id"] == "e1eec316-d74a-3755-88fa-046e1b50aee1"
    assert resp.data["author"]["email"] == "anna.hansen@example.com"
    assert resp.meta.endpoint == "records.show"
    assert resp.meta.pagination is None
    assert resp.meta.raw == {"endpoint": "records.show"}


def test_create_201() -> None:
    resp = decode("success/create_201")
    assert resp.status == 201
    assert resp.data["id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert resp.meta.endpoint == "records.create"


def test_meta_keeps_unknown_keys_in_raw() -> None:
    meta = decode("success/meta_extra_keys").meta
    assert meta.endpoint == "records.show"
    assert meta.pagination is None
    assert meta.raw["request_id"] == "req-8c1f"
    assert meta.raw["api_version"] == "1.4"
    assert meta.raw["deprecations"] == [{"field": "input_old", "sunset": "2025-01-01"}]
    assert meta.raw["endpoint"] == "records.show"


def test_envelope_without_meta_gives_empty_meta() -> None:
    resp = decode("success/no_meta")
    assert resp.data == {"id": "x"}
    assert resp.meta == Meta()
    assert resp.meta.raw == {}


def test_204_has_no_data() -> None:
    resp = decode("success/no_content_204")
    assert resp.status == 204
    assert resp.data is None
    assert resp.meta == Meta()


def test_response_is_frozen() -> None:
    resp = decode("success/show_object")
    with pytest.raises(AttributeError):
        resp.status = 500  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pagination", "style"),
    [
        ({"next_cursor": None}, CursorPagination),
        ({"cursor_param": "cursor"}, CursorPagination),
        ({"next_cursor": "a", "next": None, "current": "x"}, CursorPagination),
        ({"page_param": "page"}, PageNumberPagination),
        ({"total_items": 3, "next": None}, PageNumberPagination),
        # Only the keys both styles share: nothing says cursor, so page-number.
        ({"next": None, "current": "x", "items_per_page": 1}, PageNumberPagination),
        ({}, PageNumberPagination),
    ],
)
def test_pagination_style_is_detected_from_keys(
    pagination: dict[str, Any], style: type[Any]
) -> None:
    body = orjson.dumps({"data": [], "meta": {"pagination": pagination}})
    meta = decode_response(200, {}, body).meta
    assert type(meta.pagination) is style


def test_null_pagination_is_none() -> None:
    body = orjson.dumps({"data": [], "meta": {"endpoint": "e", "pagination": None}})
    assert decode_response(200, {}, body).meta.pagination is None


# -- error answers ------------------------------------------------------------

# name -> (class, code, message, endpoint, data, retry_after)
ERRORS: dict[str, tuple[type[APIError], str | None, str, str | None, dict[str, Any], Any]] = {
    "errors/400_invalid_route": (
        InvalidRouteError,
        "invalid_route",
        "The requested route does not exist.",
        "invalid_route",
        {"method": "GET", "path": "/v1/recordz"},
        None,
    ),
    "errors/400_unknown_code": (
        BadRequestError,
        "validation_failed",
        "page_size must be an integer.",
        "records.index",
        {"field": "page_size", "value": "ten"},
        None,
    ),
    "errors/400_error_not_object": (
        BadRequestError,
        None,
        '{"error":"bad things","meta":{"endpoint":"records.index"}}',
        None,
        {},
        None,
    ),
    "errors/400_error_data_list": (
        BadRequestError,
        "validation_failed",
        "Invalid.",
        "records.index",
        {"value": ["page", "page_size"]},
        None,
    ),
    "errors/401_authorization_header_missing": (
        AuthenticationError,
        "authorization_header_missing",
        "The Authorization header is missing or empty.",
        "records.index",
        {},
        None,
    ),
    "errors/403_authorization": (
        PermissionDeniedError,
        "authorization",
        "The API user does not have access to this resource.",
        "records.index",
        {"required_role": "records.read"},
        None,
    ),
    "errors/404_not_found": (
        NotFoundError,
        "not_found",
        "No record with id 'nope'.",
        "records.show",
        {"id": "nope"},
        None,
    ),
    "errors/409_conflict": (
        ConflictError,
        "record_locked",
        "The record is being edited.",
        "records.update",
        {"locked_by": 21},
        None,
    ),
    "errors/422_unprocessable": (
        UnprocessableEntityError,
        "taxonomy_violation",
        "input_medium is not allowed.",
        "records.create",
        {"field": "input_medium"},
        None,
    ),
    "errors/429_retry_after_seconds": (
        RateLimitError,
        "rate_limited",
        "Too many requests.",
        "records.index",
        {},
        7.0,
    ),
    "errors/429_retry_after_date_past": (
        RateLimitError,
        "rate_limited",
        "Too many requests.",
        "records.index",
        {},
        0.0,
    ),
    "errors/429_retry_after_date_future": (
        RateLimitError,
        "rate_limited",
        "Too many requests.",
        "records.index",
        {},
        "future",
    ),
    "errors/429_no_envelope": (RateLimitError, None, "Too Many Requests", None, {}, 2.0),
    "errors/500_internal": (
        ServerError,
        "internal_error",
        "Something went wrong.",
        "records.index",
        {},
        None,
    ),
    "errors/500_empty_body": (ServerError, None, "HTTP 500 with an empty body", None, {}, None),
    "errors/502_proxy_html": (
        ServerError,
        None,
        "<html> <head><title>502 Bad Gateway</title></head> <body> "
        "<center><h1>502 Bad Gateway</h1></center> <hr><center>nginx/1.25.3</center> "
        "</body> </html>",
        None,
        {},
        None,
    ),
    "errors/503_retry_after": (
        ServerError,
        "maintenance",
        "Down for maintenance.",
        "records.index",
        {"until": "2024-03-01T10:00:00Z"},
        120.0,
    ),
    "errors/504_gateway_timeout": (
        ServerError,
        None,
        "upstream request timeout",
        None,
        {},
        None,
    ),
}


def test_every_error_sample_has_an_expectation() -> None:
    assert set(ERRORS) == set(sample_names("errors"))


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_samples_raise_the_exact_class_with_fields(name: str) -> None:
    cls, code, message, endpoint, data, retry_after = ERRORS[name]
    status, _, _ = load_sample(name)
    exc = decode_error(name)
    assert type(exc) is cls
    assert exc.status == status
    assert exc.code == code
    assert exc.message == message
    assert exc.endpoint == endpoint
    assert exc.data == data
    if retry_after == "future":
        assert exc.retry_after is not None
        assert exc.retry_after > 60 * 60 * 24 * 365 * 50
    else:
        assert exc.retry_after == retry_after


def test_html_error_page_message_is_the_start_of_the_body() -> None:
    exc = decode_error("errors/502_proxy_html")
    assert exc.code is None
    assert exc.message.startswith("<html> <head><title>502 Bad Gateway</title>")
    assert "HTTP 502" in str(exc)


def test_long_html_error_page_is_cut() -> None:
    body = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(ServerError) as info:
        decode_response(502, {"Content-Type": "text/html"}, body)
    assert info.value.code is None
    assert info.value.message.startswith("<html><body>xxx")
    assert info.value.message.endswith("...")
    assert len(info.value.message) <= 203


def test_dispatch_ignores_the_message_text() -> None:
    # API_BASICS.md: the message must not be used to tell errors apart.
    body = orjson.dumps({"error": {"code": "authorization", "message": "invalid_route"}})
    with pytest.raises(PermissionDeniedError):
        decode_response(403, {}, body)
    body = orjson.dumps({"error": {"code": "whatever", "message": "invalid_route"}})
    exc = raises(BadRequestError, 400, {}, body)
    assert type(exc) is BadRequestError


def test_invalid_route_code_on_another_status_gives_the_status_class() -> None:
    body = orjson.dumps({"error": {"code": "invalid_route", "message": "m"}})
    with pytest.raises(NotFoundError):
        decode_response(404, {}, body)


def test_error_code_of_wrong_type_is_dropped() -> None:
    body = orjson.dumps({"error": {"code": 17, "message": ["not", "text"], "data": None}})
    exc = raises(BadRequestError, 400, {}, body)
    assert exc.code is None
    assert exc.message == body_excerpt(body)
    assert exc.data == {}


def test_retry_after_is_read_on_429_and_503_only() -> None:
    body = orjson.dumps({"error": {"code": "x", "message": "m"}})
    for status in (429, 503):
        exc = raises(APIError, status, {"Retry-After": "3"}, body)
        assert exc.retry_after == 3.0
    for status in (400, 500, 502):
        exc = raises(APIError, status, {"Retry-After": "3"}, body)
        assert exc.retry_after is None


def test_retry_after_header_name_is_case_insensitive() -> None:
    exc = raises(RateLimitError, 429, {"RETRY-AFTER": "4"}, b"")
    assert exc.retry_after == 4.0


def test_unreadable_retry_after_is_none() -> None:
    exc = raises(RateLimitError, 429, {"Retry-After": "soon"}, b"")
    assert exc.retry_after is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (300, APIError),
        (304, APIError),
        (405, APIError),
        (410, APIError),
        (418, APIError),
        (501, ServerError),
        (599, ServerError),
    ],
)
def test_other_statuses_get_their_class(status: int, cls: type[APIError]) -> None:
    with pytest.raises(APIError) as info:
        decode_response(status, {}, b"")
    assert type(info.value) is cls
    assert info.value.status == status


def test_error_samples_pickle() -> None:
    for name in ERRORS:
        exc = decode_error(name)
        clone = pickle.loads(pickle.dumps(exc))
        assert type(clone) is type(exc)
        assert (clone.status, clone.code, clone.message, clone.data, clone.endpoint) == (
            exc.status,
            exc.code,
            exc.message,
            exc.data,
            exc.endpoint,
        )
        assert clone.retry_after == exc.retry_after


# -- 2xx that is not the envelope ---------------------------------------------

MALFORMED: dict[str, str] = {
    "malformed/200_truncated": "not_json",
    "malformed/200_html_login": "not_json",
    "malformed/200_empty": "not_json",
    "malformed/200_no_data": "not_envelope",
    "malformed/200_array": "not_envelope",
    "malformed/200_bad_pagination_types": "bad_meta",
    "malformed/200_bad_cursor_type": "bad_meta",
    "malformed/200_pagination_not_object": "bad_meta",
    "malformed/200_meta_not_object": "bad_meta",
    "malformed/200_endpoint_not_string": "bad_meta",
}


def test_every_malformed_sample_has_an_expectation() -> None:
    assert set(MALFORMED) == set(sample_names("malformed"))


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_success_raises_decode_error(name: str) -> None:
    status, _, body = load_sample(name)
    with pytest.raises(DecodeError) as info:
        decode(name)
    exc = info.value
    assert type(exc) is DecodeError
    assert exc.kind == MALFORMED[name]
    assert exc.status == status
    assert exc.body_start == body_excerpt(body)
    assert f"{BASE}/records" in str(exc)


def test_truncated_body_start_is_kept() -> None:
    with pytest.raises(DecodeError) as info:
        decode("malformed/200_truncated")
    assert info.value.body_start.startswith('{"data": [{"id": "e1eec316')


def test_decode_error_is_not_an_api_error() -> None:
    with pytest.raises(DecodeError) as info:
        decode("malformed/200_html_login")
    assert not isinstance(info.value, APIError)


def test_every_success_sample_decodes() -> None:
    for name in sample_names("success"):
        assert isinstance(decode(name), Response), name


def test_samples_are_all_covered() -> None:
    success = set(sample_names("success"))
    assert success | set(ERRORS) | set(MALFORMED) == set(sample_names())


# -- build_url ----------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://h.example/v1", "https://h.example/v1/"])
@pytest.mark.parametrize("path", ["records", "/records"])
def test_paths_go_under_the_base_path(base: str, path: str) -> None:
    assert build_url(validate_base_url(base), path) == "https://h.example/v1/records"


def test_deeper_paths_and_query_text_kept() -> None:
    base = "http://h:1/v1"
    assert build_url(base, "/records/42") == "http://h:1/v1/records/42"
    assert build_url(base, "records?page=2") == "http://h:1/v1/records?page=2"
    assert build_url("https://h.example", "/records") == "https://h.example/records"


def test_a_url_in_the_query_does_not_make_the_path_absolute() -> None:
    url = build_url(BASE, "/records?search=output_url:eq:https://x.example/a")
    assert url == f"{BASE}/records?search=output_url:eq:https://x.example/a"


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        (("records", "42"), "records/42"),
        (("records", "a/b"), "records/a%2Fb"),
        (("records", "a?b"), "records/a%3Fb"),
        (("records", "a#b"), "records/a%23b"),
        (("records", "a b%"), "records/a%20b%25"),
        (("records", "a/../b"), "records/a%2F..%2Fb"),
        (("records", "%2e%2e"), "records/%252e%252e"),
        (("records", "ü"), "records/%C3%BC"),
        (["records"], "records"),
    ],
)
def test_segments_are_percent_encoded(segments: Any, expected: str) -> None:
    assert build_url(BASE, segments) == f"{BASE}/{expected}"


@pytest.mark.parametrize(
    "path",
    [
        "../admin",
        "/records/../../admin",
        "records/./x",
        "records/..",
        "records/%2e%2e/admin",
        "records/%2E%2E/%2e%2e/admin",
        "records/.%2e?x=1",
        ("records", ".."),
        ("..",),
        ("records", "."),
    ],
)
def test_dot_segments_are_refused(path: Any) -> None:
    with pytest.raises(InvalidRequestError):
        build_url(BASE, path)


@pytest.mark.parametrize("path", ["records\r\nX-Evil: 1", "records\n", "rec\x00ords"])
def test_control_characters_in_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidRequestError):
        build_url(BASE, path)


@pytest.mark.parametrize("segments", [(), ("records", ""), ("records", 42)])
def test_bad_segments_are_refused(segments: Any) -> None:
    with pytest.raises(InvalidRequestError):
        build_url(BASE, segments)


def test_invalid_request_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        build_url(BASE, "../x")


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/records?page=2",
        "https://api.example.com/other/path",
        "https://API.EXAMPLE.COM:443/v1/records",
        "//api.example.com/v1/records",
    ],
)
def test_absolute_same_origin_urls_are_accepted(url: str) -> None:
    out = build_url(BASE, url)
    assert out.lower().startswith("https://api.example.com")
    assert out.endswith(url.rsplit("/", 1)[1])


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/records",
        "http://api.example.com/v1/records",
        "https://api.example.com:8443/v1/records",
        "https://user:pw@api.example.com/v1/records",
        "https://user@api.example.com/v1/records",
        "//evil.example/v1/records",
        "ftp://api.example.com/v1/records",
        "https://api.example.com.evil.example/v1",
        "https://[::1/v1",
        "https://api.example.com:99999/v1",
    ],
)
def test_foreign_or_unsafe_absolute_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        build_url(BASE, url)


def test_userinfo_is_not_echoed_in_the_error() -> None:
    with pytest.raises(UnsafeURLError) as info:
        build_url(BASE, "https://alice:s3cret@api.example.com/v1")
    assert "s3cret" not in str(info.value)


def test_absolute_url_with_encoded_dot_segments_is_refused() -> None:
    with pytest.raises(InvalidRequestError):
        build_url(BASE, f"{BASE}/records/%2e%2e/admin")


def test_check_same_origin_default_port() -> None:
    assert check_same_origin("http://127.0.0.1:80/v1", "http://127.0.0.1/x") == (
        "http://127.0.0.1/x"
    )
    with pytest.raises(UnsafeURLError):
        check_same_origin("http://127.0.0.1:8080/v1", "http://127.0.0.1/x")


def test_resolve_link() -> None:
    current = f"{BASE}/records?page=1"
    assert resolve_link(current, "?page=2", BASE) == f"{BASE}/records?page=2"
    assert resolve_link(current, "/v1/records?page=2", BASE) == f"{BASE}/records?page=2"
    assert resolve_link(current, f"{BASE}/records?page=3", BASE) == f"{BASE}/records?page=3"
    for bad in ("https://evil.example/v1/records", "http://api.example.com/v1", "https://[x"):
        with pytest.raises(UnsafeURLError):
            resolve_link(current, bad, BASE)


# -- validate_base_url --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://127.1.2.3/v1",
        "http://localhost:1/v1",
        "http://LOCALHOST/v1",
        "http://[::1]:9000/v1",
    ],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert validate_base_url(url) == url.rstrip("/")
    assert is_loopback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",
        "http://10.0.0.1/v1",
        "http://128.0.0.1/v1",
        "http://localhost.evil.example/v1",
        "http://[::2]/v1",
        # *.localhost is loopback only if the resolver keeps it there (RFC 6761
        # asks it to; a system resolver or proxy need not): not trusted.
        "http://api.localhost/v1",
        "http://evil.localhost:8080/v1",
    ],
)
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    assert not is_loopback_url(url)
    with pytest.raises(ConfigurationError, match="http"):
        validate_base_url(url)
    assert validate_base_url(url, allow_insecure=True) == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1/", "https://api.example.com/v1"),
        ("https://api.example.com", "https://api.example.com"),
        ("HTTPS://api.example.com/v1", "HTTPS://api.example.com/v1"),
    ],
)
def test_https_base_urls(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "api.example.com/v1",
        "/v1",
        "ftp://api.example.com/v1",
        "https://",
        "https://user:pw@api.example.com/v1",
        "https://api.example.com/v1?x=1",
        "https://api.example.com/v1#frag",
        "https://[::1/v1",
        "https://api.example.com:99999/v1",
        "https://api.example.com:port/v1",
    ],
)
def test_bad_base_urls_are_configuration_errors(url: str | None) -> None:
    with pytest.raises(ConfigurationError):
        validate_base_url(url)


def test_surrounding_whitespace_is_dropped_from_the_base_url() -> None:
    assert validate_base_url("  https://api.example.com/v1/\n") == "https://api.example.com/v1"


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com/v\n1", "https://api.example.com/v 1", "https://api.\texample.com"],
)
def test_inner_whitespace_in_the_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        validate_base_url(url)


def test_missing_base_url_message_names_the_env_var() -> None:
    with pytest.raises(ConfigurationError, match="ACCUTICS_BASE_URL"):
        validate_base_url(None)


# -- encode_params ------------------------------------------------------------


def test_encode_params() -> None:
    params = {
        "page": 2,
        "page_size": 50,
        "search": "input_medium:eq:email;created_at:gte:2024-01-01T00:00:00Z",
        "sort": "-created_at",
        "skip": None,
        "id": ["a", "b"],
        "flag": True,
        "off": False,
        "ratio": 0.5,
        "tags": ("x",),
        "empty": [],
    }
    assert encode_params(params) == [
        ("page", "2"),
        ("page_size", "50"),
        ("search", "input_medium:eq:email;created_at:gte:2024-01-01T00:00:00Z"),
        ("sort", "-created_at"),
        ("id", "a"),
        ("id", "b"),
        ("flag", "true"),
        ("off", "false"),
        ("ratio", "0.5"),
        ("tags", "x"),
    ]


def test_encode_params_accepts_pairs_and_none() -> None:
    assert encode_params(None) == []
    assert encode_params({}) == []
    assert encode_params([("a", 1), ("a", 2), ("b", None)]) == [("a", "1"), ("a", "2")]


@pytest.mark.parametrize(
    "params",
    [
        {"search": "a\r\nX-Evil: 1"},
        {"search": "a\nb"},
        {"search": "a\x00b"},
        {"id": ["ok", "bad\r"]},
        {"bad\nname": "x"},
        {"": "x"},
        {"obj": {"a": 1}},
        {"obj": object()},
        {"id": [None]},
    ],
)
def test_encode_params_refuses_unsafe_values(params: Any) -> None:
    with pytest.raises(InvalidRequestError):
        encode_params(params)


# -- parse_retry_after --------------------------------------------------------

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 120.0),
        # delay-seconds has no sign: unreadable, not "retry now".
        ("-5", None),
        ("-0.5", None),
        ("Fri, 01 Mar 2024 12:00:30 GMT", 30.0),
        ("Fri, 01 Mar 2024 12:02:00 GMT", 120.0),
        ("Fri, 01 Mar 2024 11:59:00 GMT", 0.0),
        ("Friday, 01-Mar-24 12:00:10 GMT", 10.0),
        ("Fri Mar  1 12:00:05 2024", 5.0),
        ("Fri, 01 Mar 2024 13:00:00 +0100", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
        ("Fri, 99 Foo 2024 99:99:99 GMT", None),
        # Numbers too big for a date: OverflowError on 9979521.
        ("Fri, 31 Dec 2024 99999999999999999999:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_an_http_date_retry_after_counts_from_the_answer_s_date_header() -> None:
    later = "Fri, 01 Mar 2024 12:00:30 GMT"
    assert parse_retry_after(later, date="Fri, 01 Mar 2024 12:00:00 GMT") == 30.0
    assert parse_retry_after(later, NOW, date="Fri, 01 Mar 2024 11:00:00 GMT") == 30.0
    assert parse_retry_after("45", date="Fri, 01 Mar 2024 12:00:00 GMT") == 45.0
    assert parse_retry_after(later, date="not a date") == 0.0  # this clock: long past
    huge = "Fri, 31 Dec 2024 99999999999999999999:00:00 GMT"
    # An unreadable Date is ignored: the wait counts from this machine's clock.
    assert (parse_retry_after("Fri, 31 Dec 2100 00:00:00 GMT", date=huge) or 0) > 1e9


def test_retry_after_of_reads_either_header_in_any_case() -> None:
    headers = {
        "retry-after": "Fri, 01 Mar 2024 12:00:09 GMT",
        "DATE": "Fri, 01 Mar 2024 12:00:00 GMT",
    }
    assert retry_after_of(headers) == 9.0
    assert retry_after_of(CIMultiDictProxy(CIMultiDict({"Retry-After": "3"}))) == 3.0
    assert retry_after_of({}) is None


def test_parse_retry_after_defaults_to_the_current_time() -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=100)
    header = soon.strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = parse_retry_after(header)
    assert value is not None
    assert 90 <= value <= 100


# -- body_excerpt -------------------------------------------------------------


def test_body_excerpt_is_one_line_and_lenient() -> None:
    assert body_excerpt(b"  a\n\n b\t c  ") == "a b c"
    assert body_excerpt(b"\xff\xfeabc") == "\ufffd\ufffdabc"
    assert body_excerpt(b"x" * 300) == "x" * 200 + "..."
    assert body_excerpt(b"") == ""


def test_the_nesting_limit_is_ours_not_the_interpreters() -> None:
    """Python 3.12+ parse far deeper than 3.11; raising the limit on 3.11 shows the same."""
    import sys

    from accutics_async._sansio.strict_json import MAX_CHECKED_DEPTH, load_envelope

    def body(depth: int) -> bytes:  # meta's depth, counting meta itself
        inner = b"[" * (depth - 1) + b"]" * (depth - 1)
        return b'{"data":[],"meta":{"x":' + inner + b"}}"

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        assert load_envelope(body(MAX_CHECKED_DEPTH))["data"] == []
        with pytest.raises(ValueError, match="nested more than"):
            load_envelope(body(MAX_CHECKED_DEPTH + 1))
        with pytest.raises(ValueError, match="nested more than"):
            load_envelope(body(1010))
    finally:
        sys.setrecursionlimit(old)
