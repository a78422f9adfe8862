"""Untrusted values in paths, headers and queries cannot change the request.

A record id given as a path segment is percent-encoded, so ``../``, ``?``,
``#``, ``/`` or ``%2e%2e`` in it stay inside that one segment: the fake
server routes the request to ``records.show`` and sees the id unchanged.
CR, LF and NUL in header or query values are refused before any request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import pytest
import pytest_asyncio

from accutics_async import (
    AccuticsClient,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
)
from accutics_async.testing import FakeAccuticsServer

HOSTILE_IDS = [
    "../x",
    "../../v1/stream/records",
    "a?page=2",
    "a#frag",
    "a/b",
    "//evil.example/x",
    "%2e%2e",
    "%2E%2E%2Fstream",
    "..%2f",
    ".%2e",
    "%2F",
    "%00",
    "a\\b",
    " x ",
    "a;b=c",
    "@evil.example",
    "é/ü",
    "a\r\nHost: evil",
    "a\tb",
    "?",
    "#",
]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeAccuticsServer]:
    async with FakeAccuticsServer(records=20, seed=2) as fake:
        yield fake


@pytest.mark.parametrize("record_id", HOSTILE_IDS)
async def test_an_id_in_a_path_segment_cannot_change_the_route(
    server: FakeAccuticsServer, record_id: str
) -> None:
    async with AccuticsClient(server.token, base_url=server.base_url, retry=None) as client:
        with pytest.raises(NotFoundError) as info:
            await client.get(("records", record_id))
    # Routed to the one-record endpoint, with the id exactly as given.
    assert info.value.endpoint == "records.show"
    assert info.value.data == {"id": record_id}
    [seen] = server.request_log
    assert seen.method == "GET"
    assert seen.endpoint == "records.show"
    path, _, query = seen.path_qs.partition("?")
    assert query == ""
    prefix = "/v1/records/"
    assert path.startswith(prefix)
    segment = path[len(prefix) :]
    assert "/" not in segment
    assert "#" not in segment
    assert unquote(segment) == record_id


async def test_a_real_id_still_works(server: FakeAccuticsServer) -> None:
    record = server.all_records()[3]
    async with AccuticsClient(server.token, base_url=server.base_url) as client:
        resp = await client.get(("records", record["id"]))
    assert resp.data == record


@pytest.mark.parametrize("record_id", [".", ".."])
async def test_a_dot_segment_is_refused_before_any_request(
    server: FakeAccuticsServer, record_id: str
) -> None:
    async with AccuticsClient(server.token, base_url=server.base_url) as client:
        with pytest.raises(InvalidRequestError):
            await client.get(("records", record_id))
    assert server.stats.total_requests == 0


BAD_CALLS: dict[str, dict[str, Any]] = {
    "CRLF in a header value": {"headers": {"X-Trace": "a\r\nX-Injected: 1"}},
    "LF in a header value": {"headers": {"X-Trace": "a\nb"}},
    "NUL in a header value": {"headers": {"X-Trace": "a\x00b"}},
    "CRLF in a header name": {"headers": {"X-Trace\r\nX-Injected": "1"}},
    "CRLF in a query value": {"params": {"search": "a\r\nb"}},
    "NUL in a query value": {"params": {"sort": "id\x00"}},
    "LF in a query name": {"params": {"a\nb": "1"}},
    "CR in a list value": {"params": {"page": ["1", "2\r"]}},
    "CRLF in the path": {"path": "/records\r\nX-Injected: 1"},
    "NUL in the path": {"path": "/records/\x00"},
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
async def test_control_characters_are_refused_before_any_request(
    server: FakeAccuticsServer, name: str
) -> None:
    call = dict(BAD_CALLS[name])
    path = call.pop("path", "/records")
    async with AccuticsClient(server.token, base_url=server.base_url) as client:
        with pytest.raises(InvalidRequestError):
            await client.get(path, **call)
        if "params" in call:
            with pytest.raises(InvalidRequestError):
                client.paginate("/records", params=call["params"])
    assert server.stats.total_requests == 0


@pytest.mark.parametrize("value", ["ua\r\nX-Injected: 1", "ua\n", "ua\x00"])
def test_control_characters_in_client_settings_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError):
        AccuticsClient("a-token-long-enough", base_url="http://127.0.0.1:1", user_agent=value)
    with pytest.raises(ConfigurationError):
        AccuticsClient(f"tok{value}en", base_url="http://127.0.0.1:1")
