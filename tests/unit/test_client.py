"""AccuticsClient against aioresponses: request building, config, lifecycle, secrets, logs."""

from __future__ import annotations

import asyncio
import gc
import logging
import pickle
from typing import Any

import aiohttp
import orjson
import pytest
from aioresponses import aioresponses
from yarl import URL

from accutics_async import (
    AccuticsClient,
    APIError,
    AuthenticationError,
    ConfigurationError,
    DecodeError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Response,
    RetryPolicy,
    ServerError,
    TransportError,
    UnsafeURLError,
    __version__,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcGktdXNlci0xNyJ9.c2VjcmV0LXNpZ25hdHVyZQ"
BASE = "https://api.example.com/v1"
OK = {"data": {"id": "r1"}, "meta": {"endpoint": "records.show"}}
LIST = {"data": [], "meta": {"endpoint": "records.index"}}


def client(**kw: Any) -> AccuticsClient:
    kw.setdefault("base_url", BASE)
    kw.setdefault("retry", None)
    return AccuticsClient(kw.pop("token", TOKEN), **kw)


def calls(m: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request aioresponses saw: (method, full URL, request kwargs)."""
    return [(key[0], key[1], call.kwargs) for key, seen in m.requests.items() for call in seen]


# -- request building ---------------------------------------------------------


async def test_get_builds_url_under_the_base_path(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records/42", payload=OK)
    async with client() as c:
        resp = await c.get("/records/42")
    assert isinstance(resp, Response)
    assert resp.status == 200
    assert resp.data == {"id": "r1"}
    assert resp.meta.endpoint == "records.show"
    assert resp.url == f"{BASE}/records/42"
    [(method, url, _)] = calls(mock_http)
    assert (method, str(url)) == ("GET", f"{BASE}/records/42")


@pytest.mark.parametrize("path", ["records", "/records"])
async def test_leading_slash_keeps_the_base_path(mock_http: aioresponses, path: str) -> None:
    mock_http.get("http://127.0.0.1:1/v1/records", payload=LIST)
    async with client(base_url="http://127.0.0.1:1/v1/") as c:
        await c.get(path)
    [(_, url, _)] = calls(mock_http)
    assert str(url) == "http://127.0.0.1:1/v1/records"


async def test_path_segments_are_encoded(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records/a%2Fb%3Fc", payload=OK)
    async with client() as c:
        await c.get(("records", "a/b?c"))
    [(_, url, _)] = calls(mock_http)
    assert url.raw_path == "/v1/records/a%2Fb%3Fc"


async def test_query_params(mock_http: aioresponses) -> None:
    search = "input_medium:eq:email;created_at:gte:2024-01-01T00:00:00Z"
    mock_http.get(
        URL(f"{BASE}/records").with_query(
            [("page", "2"), ("search", search), ("id", "a"), ("id", "b"), ("flag", "true")]
        ),
        payload=LIST,
    )
    async with client() as c:
        await c.get(
            "/records",
            params={"page": 2, "search": search, "skip": None, "id": ["a", "b"], "flag": True},
        )
    [(_, url, kwargs)] = calls(mock_http)
    assert url.path == "/v1/records"
    assert url.query["page"] == "2"
    assert url.query["search"] == search
    assert url.query.getall("id") == ["a", "b"]
    assert url.query["flag"] == "true"
    assert "skip" not in url.query
    assert kwargs["params"] == [
        ("page", "2"),
        ("search", search),
        ("id", "a"),
        ("id", "b"),
        ("flag", "true"),
    ]


async def test_default_headers(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with client() as c:
        await c.get("/records")
    [(_, _, kwargs)] = calls(mock_http)
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(f"accutics-async/{__version__}")
    assert "Content-Type" not in headers
    assert kwargs["data"] is None
    # Redirects are handled by the client (same origin only), never by aiohttp.
    assert kwargs["allow_redirects"] is False


async def test_custom_user_agent_and_extra_headers(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with client(user_agent="etl-worker/2") as c:
        await c.get("/records", headers={"X-Request-Id": "abc"})
    [(_, _, kwargs)] = calls(mock_http)
    assert kwargs["headers"]["User-Agent"] == "etl-worker/2"
    assert kwargs["headers"]["X-Request-Id"] == "abc"
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_default_user_agent_names_library_and_version() -> None:
    ua = AccuticsClient.default_user_agent()
    assert ua.startswith(f"accutics-async/{__version__} python/")


@pytest.mark.parametrize("method", ["post", "put", "patch"])
async def test_json_body(mock_http: aioresponses, method: str) -> None:
    mock_http.add(f"{BASE}/records/r1", method=method.upper(), payload=OK, status=200)
    body = {"input_medium": "email", "input_tags": ["a", "ü"], "n": 1.5, "none": None}
    async with client() as c:
        resp = await getattr(c, method)("/records/r1", json=body)
    assert resp.data == {"id": "r1"}
    [(sent_method, _, kwargs)] = calls(mock_http)
    assert sent_method == method.upper()
    assert orjson.loads(kwargs["data"]) == body
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


async def test_delete_and_request(mock_http: aioresponses) -> None:
    mock_http.delete(f"{BASE}/records/r1", status=204, body=b"")
    mock_http.add(f"{BASE}/records", method="HEAD", status=204, body=b"")
    async with client() as c:
        resp = await c.delete("/records/r1")
        assert (resp.status, resp.data) == (204, None)
        resp = await c.request("head", "/records")
        assert resp.status == 204
    assert [m for m, _, _ in calls(mock_http)] == ["DELETE", "HEAD"]


async def test_a_head_request_s_answer_has_no_body_to_decode(mock_http: aioresponses) -> None:
    # A HEAD answer carries the GET's headers (Content-Type, Content-Length)
    # and no body. On 636de2d its 200 was a DecodeError(not_json), retried
    # four times first.
    mock_http.add(
        f"{BASE}/records",
        method="HEAD",
        status=200,
        body=b"",
        headers={"Content-Type": "application/json", "X-Total": "120"},
    )
    async with client() as c:
        resp = await c.request("HEAD", "/records")
    assert (resp.status, resp.data, resp.headers["X-Total"]) == (200, None, "120")
    assert [m for m, _, _ in calls(mock_http)] == ["HEAD"]


async def test_unserialisable_json_is_refused_before_sending(mock_http: aioresponses) -> None:
    async with client() as c:
        with pytest.raises(InvalidRequestError):
            await c.post("/records", json={"when": object()})
    assert calls(mock_http) == []


async def test_absolute_url_on_the_base_origin(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records?page=2", payload=LIST)
    async with client() as c:
        await c.get(f"{BASE}/records?page=2")
    assert len(calls(mock_http)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/records",
        "http://api.example.com/v1/records",
        "https://user:pw@api.example.com/v1/records",
    ],
)
async def test_foreign_absolute_url_is_never_requested(mock_http: aioresponses, url: str) -> None:
    async with client() as c:
        with pytest.raises(UnsafeURLError):
            await c.get(url)
    assert calls(mock_http) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"headers": {"X-Evil": "a\r\nInjected: 1"}}, "CR, LF"),
        ({"headers": {"X-Evil": "a\nb"}}, "CR, LF"),
        ({"headers": {"X-Evil\r\n": "a"}}, "CR, LF"),
        ({"headers": {"X-Nul": "a\x00b"}}, "CR, LF"),
        # Other controls too: aiohttp refused them at send time with a bare ValueError.
        ({"headers": {"X-Ctl": "a\x01b"}}, "control character"),
        ({"headers": {"X-Del": "a\x7fb"}}, "control character"),
        ({"headers": {"authorization": "Bearer other"}}, "Authorization"),
        ({"headers": {"Authorization": "Bearer other"}}, "Authorization"),
        ({"headers": {"AUTHORIZATION": "Bearer other"}}, "Authorization"),
        ({"params": {"search": "a\r\nb"}}, "CR, LF"),
    ],
)
async def test_unsafe_request_values_are_refused(
    mock_http: aioresponses, kwargs: dict[str, Any], match: str
) -> None:
    async with client() as c:
        with pytest.raises(InvalidRequestError, match=match):
            await c.get("/records", **kwargs)
    assert calls(mock_http) == []


@pytest.mark.parametrize("method", ["GET\r\nX: y", "GE T", "", "G\x00"])
async def test_unsafe_method_is_refused(mock_http: aioresponses, method: str) -> None:
    async with client() as c:
        with pytest.raises(InvalidRequestError):
            await c.request(method, "/records")
    assert calls(mock_http) == []


async def test_dot_segments_are_refused(mock_http: aioresponses) -> None:
    async with client() as c:
        with pytest.raises(InvalidRequestError):
            await c.get("/records/../admin")
        with pytest.raises(InvalidRequestError):
            await c.get("/records/%2e%2e/admin")
    assert calls(mock_http) == []


# -- errors come back typed ---------------------------------------------------


async def test_error_envelope_is_raised_typed(mock_http: aioresponses) -> None:
    mock_http.get(
        f"{BASE}/records/nope",
        status=404,
        payload={
            "error": {"code": "not_found", "message": "No such record.", "data": {"id": "nope"}},
            "meta": {"endpoint": "records.show"},
        },
    )
    async with client() as c:
        with pytest.raises(NotFoundError) as info:
            await c.get("/records/nope")
    exc = info.value
    assert (exc.status, exc.code, exc.message, exc.data, exc.endpoint) == (
        404,
        "not_found",
        "No such record.",
        {"id": "nope"},
        "records.show",
    )


async def test_html_502_from_a_proxy(mock_http: aioresponses) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    mock_http.get(f"{BASE}/records", status=502, body=page, content_type="text/html")
    async with client() as c:
        with pytest.raises(ServerError) as info:
            await c.get("/records")
    assert info.value.status == 502
    assert info.value.code is None
    assert info.value.message.startswith("<html><head><title>502 Bad Gateway")


async def test_timeout_becomes_transport_error(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", exception=asyncio.TimeoutError())
    async with client() as c:
        with pytest.raises(TransportError, match="timed out") as info:
            await c.get("/records")
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)


async def test_connection_error_becomes_transport_error(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", exception=aiohttp.ServerDisconnectedError())
    async with client() as c:
        with pytest.raises(TransportError, match="closed the connection"):
            await c.get("/records")


# -- redirects ----------------------------------------------------------------


async def test_same_origin_redirect_is_followed(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/old", status=301, headers={"Location": "/v1/new"}, body=b"")
    mock_http.get(f"{BASE}/new", payload=OK)
    async with client() as c:
        resp = await c.get("/old")
    assert resp.data == {"id": "r1"}
    assert resp.url == f"{BASE}/new"  # relative links in the body resolve against it
    assert [str(url) for _, url, _ in calls(mock_http)] == [f"{BASE}/old", f"{BASE}/new"]


async def test_json_body_keeps_a_caller_content_type(mock_http: aioresponses) -> None:
    mock_http.post(f"{BASE}/records", payload=OK)
    async with client() as c:
        await c.post("/records", json={"a": 1}, headers={"content-type": "application/vnd+json"})
    sent = calls(mock_http)[0][2]["headers"]
    assert [k for k in sent if k.lower() == "content-type"] == ["content-type"]


async def test_redirect_to_another_origin_is_refused(mock_http: aioresponses) -> None:
    mock_http.get(
        f"{BASE}/records", status=302, headers={"Location": "https://evil.example/x"}, body=b""
    )
    mock_http.get("https://evil.example/x", payload=OK)
    async with client() as c:
        with pytest.raises(UnsafeURLError):
            await c.get("/records")
    assert [str(url) for _, url, _ in calls(mock_http)] == [f"{BASE}/records"]


async def test_redirect_loop_is_bounded(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/a", status=302, headers={"Location": f"{BASE}/a"}, repeat=True)
    async with client(max_redirects=2) as c:
        with pytest.raises(APIError, match="redirects"):
            await c.get("/a")
    assert len(calls(mock_http)) == 3


# -- configuration ------------------------------------------------------------


async def test_token_and_base_url_from_env(
    mock_http: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUTICS_TOKEN", TOKEN)
    monkeypatch.setenv("ACCUTICS_BASE_URL", "https://env.example/api/v2")
    mock_http.get("https://env.example/api/v2/records", payload=LIST)
    async with AccuticsClient() as c:
        assert c.base_url == "https://env.example/api/v2"
        await c.get("records")
    [(_, url, kwargs)] = calls(mock_http)
    assert str(url) == "https://env.example/api/v2/records"
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


async def test_arguments_win_over_env(
    mock_http: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUTICS_TOKEN", "env-token")
    monkeypatch.setenv("ACCUTICS_BASE_URL", "https://env.example/v2")
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with AccuticsClient("arg-token", base_url=BASE) as c:
        await c.get("/records")
    [(_, url, kwargs)] = calls(mock_http)
    assert url.host == "api.example.com"
    assert kwargs["headers"]["Authorization"] == "Bearer arg-token"


async def test_values_read_from_files_lose_their_newline(
    mock_http: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUTICS_TOKEN", f"  {TOKEN}\n")
    monkeypatch.setenv("ACCUTICS_BASE_URL", f"{BASE}\n")
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with AccuticsClient() as c:
        await c.get("/records")
    [(_, url, kwargs)] = calls(mock_http)
    assert str(url) == f"{BASE}/records"
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("token", [None, "", "   ", "\n"])
def test_missing_token_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    monkeypatch.delenv("ACCUTICS_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="ACCUTICS_TOKEN"):
        AccuticsClient(token, base_url=BASE)


def test_missing_base_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCUTICS_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="ACCUTICS_BASE_URL"):
        AccuticsClient(TOKEN)


@pytest.mark.parametrize("token", ["abc\r\nX-Evil: 1", "abc\x01def", "abc\tdef", "abc\x7fdef"])
def test_token_with_a_control_character_inside_is_refused(token: str) -> None:
    # At construction: aiohttp refused \x01 only when sending, with a bare ValueError.
    with pytest.raises(ConfigurationError, match="control character") as info:
        AccuticsClient(token, base_url=BASE)
    assert token not in str(info.value)


def test_user_agent_with_a_control_character_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="user_agent"):
        AccuticsClient(TOKEN, base_url=BASE, user_agent="etl\x01worker")


async def test_a_tab_in_a_header_value_is_sent(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with client() as c:
        await c.get("/records", headers={"X-Note": "a\tb"})  # HTTP allows HTAB in a value
    ((_, sent),) = [(key, call) for key, calls_ in mock_http.requests.items() for call in calls_]
    assert sent.kwargs["headers"]["X-Note"] == "a\tb"


def test_insecure_http_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        AccuticsClient(TOKEN, base_url="http://api.example.com/v1")


async def test_insecure_http_allowed_explicitly_or_on_loopback(mock_http: aioresponses) -> None:
    mock_http.get("http://api.example.com/v1/records", payload=LIST)
    mock_http.get("http://localhost:8080/v1/records", payload=LIST)
    async with client(base_url="http://api.example.com/v1", allow_insecure=True) as c:
        await c.get("/records")
    async with client(base_url="http://localhost:8080/v1") as c:
        await c.get("/records")
    assert len(calls(mock_http)) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": "30"},
        {"max_concurrency": 0},
        {"max_concurrency": 1.5},
        {"retry": 3},
        {"max_response_bytes": 0},
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        client(**kwargs)


def test_default_retry_policy() -> None:
    assert AccuticsClient(TOKEN, base_url=BASE).retry == RetryPolicy()
    assert client(retry=None).retry is None


# -- secrets ------------------------------------------------------------------


def test_repr_has_no_token() -> None:
    c = client()
    assert TOKEN not in repr(c)
    assert TOKEN[:20] not in repr(c)
    assert BASE in repr(c)
    assert TOKEN not in str(c)


async def test_token_echoed_in_an_error_is_redacted(mock_http: aioresponses) -> None:
    mock_http.get(
        f"{BASE}/records",
        status=401,
        payload={
            "error": {
                "code": "authorization_header_missing",
                "message": f"Token 'Bearer {TOKEN}' is not valid.",
                "data": {"received": TOKEN},
            },
            "meta": {"endpoint": "records.index"},
        },
    )
    async with client() as c:
        with pytest.raises(AuthenticationError) as info:
            await c.get("/records")
    exc = info.value
    for text in (str(exc), repr(exc), exc.message, str(exc.data), str(exc.args)):
        assert TOKEN not in text
    assert "[redacted]" in exc.message
    assert TOKEN not in str(pickle.dumps(exc))


async def test_token_echoed_in_a_non_json_body_is_redacted(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", status=200, body=f"<html>{TOKEN}</html>".encode())
    async with client() as c:
        with pytest.raises(DecodeError) as info:
            await c.get("/records")
    assert TOKEN not in str(info.value)
    assert TOKEN not in info.value.body_start


async def test_log_records_at_debug(
    mock_http: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_http.get(f"{BASE}/records/42", payload=OK)
    mock_http.get(
        f"{BASE}/records/43",
        status=403,
        payload={"error": {"code": "authorization", "message": f"bad {TOKEN}"}},
    )
    caplog.set_level(logging.DEBUG, logger="accutics_async")
    async with client() as c:
        await c.get("/records/42")
        with pytest.raises(PermissionDeniedError, match="HTTP 403"):
            await c.get("/records/43")
    records = [r for r in caplog.records if r.name.startswith("accutics_async")]
    messages = [r.getMessage() for r in records]
    ok = [m for m in messages if f"{BASE}/records/42" in m]
    assert len(ok) == 1
    assert "GET" in ok[0]
    assert "200" in ok[0]
    assert "attempt 1" in ok[0]
    assert " ms" in ok[0]
    denied = [m for m in messages if f"{BASE}/records/43" in m]
    assert len(denied) == 1
    assert "403" in denied[0]
    assert all(r.levelno == logging.DEBUG for r in records if "/records/4" in r.getMessage())
    for record in records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in str(record.args)
        assert TOKEN not in str(record.__dict__)


async def test_log_names_the_attempt_number_of_retries(
    mock_http: aioresponses, caplog: pytest.LogCaptureFixture, clock: Any
) -> None:
    mock_http.get(f"{BASE}/records", status=503, body=b"busy")
    mock_http.get(f"{BASE}/records", payload=LIST)
    caplog.set_level(logging.DEBUG, logger="accutics_async")
    async with client(retry=RetryPolicy()) as c:
        await c.get("/records")
    attempts = [r.getMessage() for r in caplog.records if f"{BASE}/records" in r.getMessage()]
    assert len(attempts) == 2
    assert "503" in attempts[0]
    assert "attempt 1" in attempts[0]
    assert "200" in attempts[1]
    assert "attempt 2" in attempts[1]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


async def test_no_debug_records_when_debug_is_off(
    mock_http: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    caplog.set_level(logging.INFO, logger="accutics_async")
    async with client() as c:
        await c.get("/records")
    assert [r for r in caplog.records if r.levelno < logging.INFO] == []


# -- lifecycle ----------------------------------------------------------------


async def test_borrowed_session_is_not_closed(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    session = aiohttp.ClientSession()
    try:
        async with client(session=session) as c:
            await c.get("/records")
        assert not session.closed
    finally:
        await session.close()


async def test_owned_session_is_closed(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST)
    c = client()
    await c.get("/records")
    session = c._transport._session
    assert session is not None
    assert not session.closed
    await c.close()
    assert session.closed
    await c.close()  # idempotent
    del session, c
    gc.collect()  # an unclosed session would warn here, and -W error fails the test


async def test_client_without_requests_closes_cleanly() -> None:
    async with client():
        pass
    gc.collect()


async def test_closed_client_refuses_requests(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/records", payload=LIST, repeat=True)
    c = client()
    await c.get("/records")
    await c.close()
    with pytest.raises(ConfigurationError, match="closed"):
        await c.get("/records")
    assert len(calls(mock_http)) == 1


async def test_max_concurrency_caps_requests_in_flight(mock_http: aioresponses) -> None:
    in_flight = 0
    peak = 0

    async def slow(url: URL, **kwargs: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1

    mock_http.get(f"{BASE}/records", payload=LIST, callback=slow, repeat=True)
    async with client(max_concurrency=2) as c:
        await asyncio.gather(*(c.get("/records") for _ in range(7)))
    assert peak == 2
    assert len(calls(mock_http)) == 7


async def test_stats_count_requests_and_attempts(mock_http: aioresponses, clock: Any) -> None:
    mock_http.get(f"{BASE}/records", status=500, body=b"")
    mock_http.get(f"{BASE}/records", payload=LIST)
    async with client(retry=RetryPolicy()) as c:
        await c.get("/records")
        assert c.stats["requests"] == 1
        assert c.stats["attempts"] == 2
        assert c.stats["retries.status_500"] == 1
