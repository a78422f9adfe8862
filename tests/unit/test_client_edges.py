"""Client promises at the edges that need no socket: signatures, hooks, pager arguments."""

from __future__ import annotations

import asyncio
import inspect
import typing
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest
from aioresponses import aioresponses

from accutics_async import (
    AccuticsClient,
    ConfigurationError,
    DecodeError,
    InvalidRequestError,
    Response,
    TransportError,
    register_structure_hook,
)

BASE = "https://api.example.com/v1"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"


def test_shorthands_spell_their_keywords_out() -> None:
    for name in ("request", "get", "post", "put", "patch", "delete"):
        params = inspect.signature(getattr(AccuticsClient, name)).parameters.values()
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params), name
        names = {p.name for p in params}
        assert {"params", "headers", "timeout", "deadline"} <= names, name


def test_response_data_is_typed_json() -> None:
    hint = typing.get_type_hints(Response)["data"]
    assert set(typing.get_args(hint)) >= {str, int, float, bool, type(None)}
    assert typing.Any not in typing.get_args(hint)
    assert "JSON" in str(hint)  # recursive: dict[str, JSON] | list[JSON] | ...


@attrs.frozen
class Priced:
    id: str
    price: Decimal


@attrs.frozen
class Named:
    id: str
    name: str


@attrs.frozen
class Money:
    amount: str


@attrs.frozen
class Invoice:
    id: str
    total: Money


async def test_a_field_type_without_a_hook_is_a_decode_error_naming_the_field(
    mock_http: aioresponses,
) -> None:
    mock_http.get(f"{BASE}/things", payload={"data": [{"id": "a", "price": 1.5}]})
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        with pytest.raises(DecodeError, match="'price'") as info:
            await client.paginate("/things", model=Priced).collect()
    assert info.value.kind == "bad_item"
    assert "register_structure_hook" in str(info.value)


async def test_a_registered_hook_structures_the_field(mock_http: aioresponses) -> None:
    register_structure_hook(Money, lambda value: Money(str(value)))
    mock_http.get(f"{BASE}/invoices", payload={"data": [{"id": "a", "total": 2.5}]})
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        [item] = await client.paginate("/invoices", model=Invoice).collect()
    assert item == Invoice("a", Money("2.5"))
    with pytest.raises(ConfigurationError):
        register_structure_hook(str, str)


async def test_a_bad_value_names_the_field(mock_http: aioresponses) -> None:
    mock_http.get(f"{BASE}/things", payload={"data": [{"id": "a", "name": 7}]})
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        with pytest.raises(DecodeError, match=r"item 0 .*'name'"):
            await client.paginate("/things", model=Named).collect()


@pytest.mark.parametrize(
    ("params", "kwargs"),
    [
        ({"search": "input_medium:eq:email"}, {"search": "id:exists"}),
        ({"sort": "id"}, {"sort": "-id"}),
        ({"page_size": 5}, {"page_size": 10}),
    ],
)
def test_a_parameter_given_twice_is_refused(params: Any, kwargs: Any) -> None:
    client = AccuticsClient(TOKEN, base_url=BASE)
    with pytest.raises(ConfigurationError, match="pass it one way only"):
        client.paginate("/records", params=params, **kwargs)


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/records?sort=id", {"sort": "-id"}),
        ("/records?page_size=5", {"page_size": 10}),
        ("records?search=id:exists", {"search": "input_medium:eq:email"}),
    ],
)
def test_a_parameter_in_the_path_and_given_again_is_refused(path: str, kwargs: Any) -> None:
    client = AccuticsClient(TOKEN, base_url=BASE)
    with pytest.raises(ConfigurationError, match="the path's query and"):
        client.paginate(path, **kwargs)


async def test_a_path_with_a_query_of_its_own_keeps_the_pager_s_parameters(
    mock_http: aioresponses,
) -> None:
    # On 9979521 the pager added "?sort=..." after the path's own query: the
    # server read input_medium="email?sort=id", and got no sort at all.
    page = {"data": [], "meta": {"endpoint": "records.index"}}
    mock_http.get(f"{BASE}/records?input_medium=email&sort=id&page_size=5", payload=page)
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        pager = client.paginate("records?input_medium=email", sort="id", page_size=5)
        assert await pager.collect() == []
    [(_, url)] = mock_http.requests
    assert dict(url.query) == {"input_medium": "email", "sort": "id", "page_size": "5"}


@pytest.mark.parametrize(
    "call",
    [
        {"path": None},
        {"path": 5},
        {"params": 5},
        {"params": "page=2"},
        {"params": [("a",)]},
        {"params": [("a", 1, 2)]},
        {"headers": {"X-Page": 5}},
        {"headers": {5: "x"}},
        {"headers": [("X-Page",)]},
    ],
    ids=repr,
)
async def test_a_request_that_cannot_be_built_is_refused_as_ours(
    mock_http: aioresponses, call: dict[str, Any]
) -> None:
    # On 9979521 each of these escaped as a bare TypeError or ValueError.
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        with pytest.raises(InvalidRequestError):
            await client.get(call.pop("path", "records"), **call)
    assert not mock_http.requests


async def test_a_borrowed_session_closed_by_its_owner_is_a_transport_error() -> None:
    # On 9979521 aiohttp's RuntimeError("Session is closed") escaped.
    session = aiohttp.ClientSession()
    await session.close()
    async with AccuticsClient(TOKEN, base_url=BASE, session=session) as client:
        with pytest.raises(TransportError) as info:
            await client.get("records")
    assert info.value.kind == "closed"


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("records?input_medium=email", "records?input_medium=email&sort=id&page_size=5"),
        ("records?", "records?sort=id&page_size=5"),
        ("records?a=1#top", "records?a=1&sort=id&page_size=5#top"),
        ("records#top", "records?sort=id&page_size=5#top"),
    ],
)
def test_the_pager_s_parameters_go_in_the_query_of_any_path(path: str, url: str) -> None:
    from accutics_async._sansio.query import Query

    assert Query.of(path, sort="id", page_size=5).first_url(BASE) == f"{BASE}/{url}"


@pytest.mark.parametrize(
    "path", ["records", "records?a=1", "records?", "records?a=1&", "records#top"]
)
def test_params_join_a_url_as_aiohttp_joins_them(path: str) -> None:
    from yarl import URL

    from accutics_async._sansio.query import with_params

    pairs = [("page_size", "3"), ("sort", "id")]
    assert with_params(f"{BASE}/{path}", pairs) == str(URL(f"{BASE}/{path}").extend_query(pairs))


def test_concurrency_over_the_client_cap_is_refused() -> None:
    client = AccuticsClient(TOKEN, base_url=BASE, max_concurrency=8)
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        client.paginate("/records", concurrency=16)


def test_a_client_used_from_a_second_event_loop_is_a_configuration_error() -> None:
    client: AccuticsClient | None = None

    async def first() -> None:
        nonlocal client
        async with aiohttp.ClientSession() as session:
            client = AccuticsClient(TOKEN, base_url=BASE, session=session)
            with aioresponses() as m:
                m.get(f"{BASE}/records/1", payload={"data": {}})
                await client.get("/records/1")

    async def second() -> None:
        assert client is not None
        with pytest.raises(ConfigurationError, match="event loop"):
            await client.get("/records/1")

    asyncio.run(first())
    asyncio.run(second())


def test_ssl_false_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigurationError, match="ssl=False"):
        AccuticsClient(TOKEN, base_url=BASE, ssl=False)
    AccuticsClient(TOKEN, base_url="http://127.0.0.1:1/v1", ssl=False)


def test_a_proxy_must_be_an_http_url() -> None:
    with pytest.raises(ConfigurationError, match="proxy"):
        AccuticsClient(TOKEN, base_url=BASE, proxy="socks5://user:pw@h:1")
