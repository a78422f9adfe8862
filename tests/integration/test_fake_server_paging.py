"""Paging and sorting of the fake server, seen by a raw HTTP client."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from accutics_async.testing import FakeAccuticsServer

PAGE_KEYS = {
    "first",
    "previous",
    "current",
    "next",
    "last",
    "items_per_page",
    "total_items",
    "page_param",
    "size_param",
}
CURSOR_KEYS = {"current", "next", "items_per_page", "next_cursor", "cursor_param", "size_param"}


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for page in pages for item in page["data"]]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_page_number_walk_visits_every_record_once(raw_client, fake_server) -> None:
    pages = await raw_client.walk(fake_server.page_endpoint, page_size="40")
    assert [len(p["data"]) for p in pages] == [40] * 6 + [10]
    assert ids(pages) == [r["id"] for r in fake_server.all_records()]
    first = pages[0]["meta"]
    assert first["endpoint"] == "records.index"
    pagination = first["pagination"]
    assert set(pagination) == PAGE_KEYS
    assert pagination["previous"] is None
    assert pagination["total_items"] == 250
    assert pagination["items_per_page"] == 40
    assert (pagination["page_param"], pagination["size_param"]) == ("page", "page_size")
    assert pagination["first"].startswith(fake_server.base_url + "/records?")
    assert query_of(pagination["last"])["page"] == ["7"]
    assert query_of(pages[3]["meta"]["pagination"]["previous"])["page"] == ["3"]
    assert pages[-1]["meta"]["pagination"]["next"] is None


async def test_cursor_walk_visits_every_record_once(raw_client, fake_server) -> None:
    pages = await raw_client.walk(fake_server.cursor_endpoint, page_size="60")
    assert ids(pages) == [r["id"] for r in fake_server.all_records()]
    for page in pages:
        assert page["meta"]["endpoint"] == "records.cursor"
        pagination = page["meta"]["pagination"]
        assert set(pagination) == CURSOR_KEYS
        assert (pagination["cursor_param"], pagination["size_param"]) == ("cursor", "page_size")
        if pagination["next"] is not None:
            assert isinstance(pagination["next_cursor"], str)
            assert query_of(pagination["next"])["cursor"] == [pagination["next_cursor"]]
    assert pages[-1]["meta"]["pagination"]["next_cursor"] is None


@pytest.mark.parametrize("endpoint", ["page_endpoint", "cursor_endpoint"])
async def test_walk_keeps_search_and_sort(raw_client, fake_server, endpoint) -> None:
    search = "input_medium:eq:email,social;input_segment:exists"
    pages = await raw_client.walk(
        getattr(fake_server, endpoint),
        search=search,
        sort="-input_budget,created_at",
        page_size="7",
    )
    items = [item for page in pages for item in page["data"]]
    expected = [
        r
        for r in fake_server.all_records()
        if r["input_medium"] in ("email", "social") and r.get("input_segment")
    ]
    expected.sort(key=lambda r: (-r["input_budget"], r["created_at"], r["id"]))
    assert [r["id"] for r in items] == [r["id"] for r in expected]
    assert len(pages) > 3
    for page in pages[1:]:
        kept = query_of(page["meta"]["pagination"]["current"])
        assert kept["search"] == [search]
        assert kept["sort"] == ["-input_budget,created_at"]
        assert kept["page_size"] == ["7"]


def multi_sort(records: list[dict[str, Any]], keys: list[tuple[Any, bool]]) -> list[str]:
    """Reference sort: stable passes, last key first; ties by id ascending."""
    out = sorted(records, key=lambda r: r["id"])
    for key, descending in reversed(keys):
        out.sort(key=key, reverse=descending)
    return [r["id"] for r in out]


@pytest.mark.parametrize(
    ("sort", "keys"),
    [
        ("created_at", [(lambda r: r["created_at"], False)]),
        ("-created_at", [(lambda r: r["created_at"], True)]),
        ("input_medium,-input_budget", [(lambda r: r["input_medium"], False),
                                        (lambda r: r["input_budget"], True)]),
        ("-submission,id", [(lambda r: r["submission"], True), (lambda r: r["id"], False)]),
        ("-match_status,updated_at", [(lambda r: r["match_status"], True),
                                      (lambda r: r["updated_at"], False)]),
        ("author", [(lambda r: r["author"]["name"], False)]),
        ("-input_market", [(lambda r: r["input_market"], True)]),
    ],
)  # fmt: skip
async def test_sort_orders_and_breaks_ties_by_id(raw_client, fake_server, sort, keys) -> None:
    pages = await raw_client.walk(fake_server.page_endpoint, sort=sort)
    assert ids(pages) == multi_sort(fake_server.all_records(), keys)


async def test_nulls_sort_first_ascending(raw_client, fake_server) -> None:
    body = await raw_client.get(fake_server.page_endpoint, sort="input_segment", page_size="100")
    records = fake_server.all_records()
    without = sum(1 for r in records if r.get("input_segment") is None)
    assert 0 < without < 100
    assert all(r.get("input_segment") is None for r in body["data"][:without])
    assert body["data"][without]["input_segment"] is not None


async def test_page_size_is_clamped_and_defaults_to_the_maximum(raw_client, fake_server) -> None:
    body = await raw_client.get(fake_server.page_endpoint, page_size="5000")
    assert len(body["data"]) == fake_server.max_page_size == 100
    assert body["meta"]["pagination"]["items_per_page"] == 100
    assert query_of(body["meta"]["pagination"]["next"])["page_size"] == ["100"]
    body = await raw_client.get(fake_server.cursor_endpoint)
    assert len(body["data"]) == 100


async def test_page_beyond_last_is_empty(raw_client, fake_server) -> None:
    body = await raw_client.get(fake_server.page_endpoint, page="99", page_size="50")
    assert body["data"] == []
    assert body["meta"]["pagination"]["next"] is None
    assert query_of(body["meta"]["pagination"]["last"])["page"] == ["5"]


async def test_empty_result_has_one_page(raw_client, fake_server) -> None:
    body = await raw_client.get(fake_server.page_endpoint, search="input_medium:eq:nothing")
    pagination = body["meta"]["pagination"]
    assert (body["data"], pagination["total_items"], pagination["next"]) == ([], 0, None)
    assert query_of(pagination["last"])["page"] == ["1"]
    body = await raw_client.get(fake_server.cursor_endpoint, search="input_medium:eq:nothing")
    assert (body["data"], body["meta"]["pagination"]["next_cursor"]) == ([], None)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"page_size": "0"}, "invalid_parameter"),
        ({"page_size": "ten"}, "invalid_parameter"),
        ({"page": "0"}, "invalid_parameter"),
        ({"page": "-2"}, "invalid_parameter"),
        ({"sort": "nope"}, "invalid_sort"),
        ({"sort": "created_at,"}, "invalid_sort"),
        ({"sort": "-"}, "invalid_sort"),
        ({"sort": "+created_at"}, "invalid_sort"),
    ],
)
async def test_bad_paging_parameters_are_422(raw_client, fake_server, params, code) -> None:
    status, body = await raw_client.call("GET", fake_server.page_endpoint, params=params)
    assert status == 422
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["data"], dict)
    assert body["meta"]["endpoint"] == "records.index"


async def test_bad_cursors_are_422(raw_client, fake_server) -> None:
    first = await raw_client.get(fake_server.cursor_endpoint, page_size="10")
    cursor = first["meta"]["pagination"]["next_cursor"]
    forged = base64.urlsafe_b64encode(b"[1,2]").decode()
    for params in ({"cursor": "%%%"}, {"cursor": forged}, {"cursor": cursor, "sort": "id"}):
        status, body = await raw_client.call("GET", fake_server.cursor_endpoint, params=params)
        assert (status, body["error"]["code"]) == (422, "invalid_cursor"), params


async def test_cursor_walk_survives_inserts_without_skips_or_repeats(
    raw_client, fake_server
) -> None:
    original = [r["id"] for r in fake_server.all_records()]
    seen: list[str] = []
    behind: list[str] = []  # inserted before the cursor: must not appear
    ahead: list[str] = []  # inserted after the cursor: must appear
    body = await raw_client.get(fake_server.cursor_endpoint, page_size="25")
    while True:
        seen += [item["id"] for item in body["data"]]
        if body["meta"]["pagination"]["next"] is None:
            break
        position = [r["id"] for r in fake_server.all_records()].index(seen[-1])
        behind += [r["id"] for r in fake_server.insert_records(2, at=0)]
        # position + 2 is now the last record seen: insert right after it.
        ahead += [r["id"] for r in fake_server.insert_records(2, at=position + 3)]
        ahead += [r["id"] for r in fake_server.insert_records(1, at=None)]
        body = await raw_client.get(body["meta"]["pagination"]["next"])
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(original)] == original
    assert set(seen) - set(original) == set(ahead)
    assert not set(seen) & set(behind)


async def test_page_number_walk_drifts_when_records_are_inserted(raw_client, fake_server) -> None:
    first = await raw_client.get(fake_server.page_endpoint, page_size="50")
    fake_server.insert_records(5, at=0)
    second = await raw_client.get(first["meta"]["pagination"]["next"])
    # The documented page-number method offers no protection: the last five
    # of page 1 come again (what a client's drift check must notice).
    assert [r["id"] for r in second["data"][:5]] == [r["id"] for r in first["data"][-5:]]
    assert second["meta"]["pagination"]["total_items"] == 255


async def test_inserted_records_keep_created_at_order(fake_server: FakeAccuticsServer) -> None:
    new = fake_server.insert_records(3, at=10)
    records = fake_server.all_records()
    assert [r["id"] for r in records[10:13]] == [r["id"] for r in new]
    stamps = [r["created_at"] for r in records]
    assert stamps == sorted(stamps)
    assert len(records) == 253
    with pytest.raises(ValueError, match="between 0 and 253"):
        fake_server.insert_records(1, at=254)


async def test_created_at_range_matches_a_scan(raw_client, fake_server) -> None:
    records = fake_server.all_records()
    low, high = records[40]["created_at"], records[90]["created_at"]
    search = f"created_at:gte:{low};created_at:lt:{high}"
    for sort, expected in (
        ("created_at", records[40:90]),
        ("-created_at", records[89:39:-1]),
    ):
        body = await raw_client.get(fake_server.page_endpoint, search=search, sort=sort)
        assert [r["id"] for r in body["data"]] == [r["id"] for r in expected]
