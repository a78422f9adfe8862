"""The fake server's search language against a plain-Python reference evaluation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accutics_async import AccuticsClient, F
from accutics_async.testing import generate_records

RECORDS = list(generate_records(250, seed=1))  # what fake_server serves

# -- the reference: written from API_BASICS.md and the documented choices ----

KINDS = {
    "id": "text",
    "created_at": "time",
    "updated_at": "time",
    "author": "user",
    "updater": "user",
    "submission": "text",
    "match_status": "status",
    "input_campaign_name": "text",
    "input_medium": "select",
    "input_source": "select",
    "input_market": "select",
    "input_segment": "select",
    "input_tags": "multi",
    "input_start_date": "time",
    "input_end_date": "time",
    "input_budget": "number",
    "input_content": "text",
    "output_utm_campaign": "text",
    "output_utm_source": "text",
    "output_utm_medium": "text",
    "output_utm_content": "text",
    "output_url": "text",
}
LIKE = ["contains", "beginswith", "endswith"]
BASIC = ["eq", "neq", "exists", "missing"]
OPERATORS = {
    "text": [*BASIC, *LIKE],
    "user": [*BASIC, *LIKE],
    "select": [*BASIC, *LIKE, "hasany", "hasnone"],
    "multi": [*BASIC, "hasany", "hasall", "hasnone"],
    "status": [*BASIC, "hasany", "hasnone"],
    "time": [*BASIC, "gt", "gte", "lt", "lte"],
    "number": [*BASIC, "gt", "gte", "lt", "lte"],
}
ALIASES = {
    "eq": ["eq", "equals", "=", "equal", "EQ"],
    "neq": ["neq", "notequals", "!=", "notequal"],
    "gt": ["gt", ">"],
    "gte": ["gte", ">="],
    "lt": ["lt", "<"],
    "lte": ["lte", "<="],
    "contains": ["contains"],
    "beginswith": ["beginswith", "startswith"],
    "endswith": ["endswith"],
    "exists": ["exists"],
    "missing": ["missing"],
    "hasany": ["hasany", "has_any"],
    "hasall": ["hasall", "has_all"],
    "hasnone": ["hasnone", "has_none"],
}
STATUS = {"synced": {"synced", "matched"}, "outdated": {"outdated", "out_of_sync"}}


def when(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


def is_missing(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def equals_any(kind: str, value: Any, wanted: list[str]) -> bool:
    if value is None:
        return False
    if kind == "user":
        return value["id"] in wanted
    if kind == "multi":
        return any(tag in wanted for tag in value)
    if kind == "number":
        return any(float(value) == float(w) for w in wanted)
    if kind == "time":
        return any(when(value) == when(w) for w in wanted)
    if kind == "status":
        return any(value in STATUS.get(w, {w}) for w in wanted)
    return value in wanted


def reference(record: dict[str, Any], dimension: str, operator: str, values: list[str]) -> bool:
    kind, value = KINDS[dimension], record.get(dimension)
    if operator in ("exists", "missing"):
        return is_missing(value) == (operator == "missing")
    if operator in ("eq", "hasany"):
        return equals_any(kind, value, values)
    if operator in ("neq", "hasnone"):
        return not equals_any(kind, value, values)
    if operator == "hasall":
        return value is not None and set(values) <= set(value)
    if operator in LIKE:
        texts = [value["name"], value["email"]] if kind == "user" and value else [value or ""]
        method = {"contains": str.__contains__, "beginswith": str.startswith}.get(
            operator, str.endswith
        )
        return any(method(t.lower(), v.lower()) for t in texts for v in values)
    if value is None:
        return False
    left, right = (
        (float(value), float(values[0])) if kind == "number" else (when(value), when(values[0]))
    )
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[
        operator
    ]


# -- value pools drawn from the data, plus values that match nothing ----------


def pool(dimension: str) -> list[str]:
    kind = KINDS[dimension]
    found: set[str] = set()
    for record in RECORDS:
        value = record.get(dimension)
        if kind == "user" and value:
            found |= {value["id"], value["name"], value["email"]}
        elif kind == "multi":
            found |= set(value)
        elif value not in (None, ""):
            found.add(str(value))
    return [*sorted(found), "zz-nothing"]


POOLS = {dimension: pool(dimension) for dimension in KINDS}


@st.composite
def value_for(draw: st.DrawFn, dimension: str, operator: str) -> str:
    kind = KINDS[dimension]
    if kind == "time":
        base = when(draw(st.sampled_from(POOLS[dimension][:-1])))
        seconds = draw(st.integers(-3, 3)) * draw(st.sampled_from([1, 60, 86_400]))
        stamp = datetime.fromtimestamp(base.timestamp() + seconds).strftime("%Y-%m-%dT%H:%M:%S")
        return stamp + draw(st.sampled_from(["Z", ".999Z", ".5Z"]))
    if kind == "number":
        number = int(draw(st.sampled_from(POOLS[dimension][:-1]))) + draw(
            st.sampled_from([0, 0, 1, -25])
        )
        return draw(st.sampled_from([str(number), f"{number}.0", f"{number}.5"]))
    if kind == "status":
        return draw(st.sampled_from(["unmatched", "matched", "synced", "out_of_sync", "outdated"]))
    text = draw(st.sampled_from(POOLS[dimension]))
    if operator in LIKE:
        start = draw(st.integers(0, len(text) - 1))
        text = text[start : start + draw(st.integers(1, 8))]
        text = draw(st.sampled_from([text, text.upper(), text.title()]))
    return text


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, str, list[str], str]:
    dimension = draw(st.sampled_from(sorted(KINDS)))
    operator = draw(st.sampled_from(OPERATORS[KINDS[dimension]]))
    values: list[str] = []
    if operator not in ("exists", "missing"):
        many = operator not in ("gt", "gte", "lt", "lte")
        count = draw(st.integers(1, 3)) if many else 1
        values = [draw(value_for(dimension, operator)) for _ in range(count)]
    values = [v for v in values if v and "," not in v and ";" not in v] or (values and ["x"])
    spelling = draw(st.sampled_from(ALIASES[operator]))
    wire = f"{dimension}:{spelling}" + (f":{','.join(values)}" if values else "")
    return dimension, operator, values, wire


def expected_ids(parsed: list[tuple[str, str, list[str], str]]) -> list[str]:
    return [r["id"] for r in RECORDS if all(reference(r, d, op, vals) for d, op, vals, _ in parsed)]


@settings(
    max_examples=150,
    # The fixtures are the same server and client for every example, on purpose.
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(parsed=st.lists(filters(), min_size=1, max_size=3))
async def test_search_matches_the_reference(raw_client, fake_server, parsed) -> None:
    search = ";".join(wire for *_, wire in parsed)
    body = await raw_client.get(fake_server.page_endpoint, search=search, page_size="100")
    total = body["meta"]["pagination"]["total_items"]
    expected = expected_ids(parsed)
    assert total == len(expected)
    assert [r["id"] for r in body["data"]] == expected[:100]


async def test_the_data_gives_every_operator_something_to_do(raw_client, fake_server) -> None:
    # Guards the property test against a dataset where filters are trivial.
    records = fake_server.all_records()
    assert {"absent", None} <= {r.get("input_segment", "absent") for r in records}
    assert any(r["input_tags"] == [] for r in records)
    assert any(r["input_content"] == "" for r in records)
    assert len({r["match_status"] for r in records}) == 5


STILL_IN_SYNC = ("unmatched", "matched", "synced")


@pytest.mark.parametrize(
    ("search", "count"),
    [
        ("input_medium:eq:email", lambda r: r["input_medium"] == "email"),
        ("input_medium:=:email,social", lambda r: r["input_medium"] in ("email", "social")),
        ("input_medium:!=:email,social", lambda r: r["input_medium"] not in ("email", "social")),
        ("input_segment:neq:vip", lambda r: r.get("input_segment") != "vip"),
        ("input_segment:missing", lambda r: not r.get("input_segment")),
        ("input_segment:exists", lambda r: bool(r.get("input_segment"))),
        ("input_tags:has_all:promo,brand", lambda r: {"promo", "brand"} <= set(r["input_tags"])),
        ("input_tags:hasnone:promo", lambda r: "promo" not in r["input_tags"]),
        ("input_tags:missing", lambda r: r["input_tags"] == []),
        ("input_source:hasany:google,bing", lambda r: r["input_source"] in ("google", "bing")),
        ("match_status:hasany:synced", lambda r: r["match_status"] in ("synced", "matched")),
        ("match_status:has_none:outdated", lambda r: r["match_status"] in STILL_IN_SYNC),
        ("match_status:eq:matched", lambda r: r["match_status"] == "matched"),
        ("submission:startswith:q1 2020", lambda r: r["submission"].startswith("Q1 2020")),
        ("submission:endswith:SALE", lambda r: r["submission"].endswith("Sale")),
        ("author:contains:JENSEN", lambda r: "jensen" in r["author"]["email"]),
        ("output_url:contains:utm_content=", lambda r: r["input_content"] != ""),
        ("input_budget:gt:25000", lambda r: r["input_budget"] > 25000),
        ("input_budget:<=:1000.5", lambda r: r["input_budget"] <= 1000),
        ("created_at:>:2020-01-01T10:00:00.9Z", lambda r: r["created_at"] > "2020-01-01T10:00:00Z"),
        ("input_start_date:lt:2021-02-01T00:00:00Z", lambda r: r["input_start_date"] < "2021-02"),
    ],
)  # fmt: skip
async def test_documented_examples(raw_client, fake_server, search, count) -> None:
    body = await raw_client.get(fake_server.page_endpoint, search=search, page_size="100")
    expected = [r["id"] for r in fake_server.all_records() if count(r)]
    assert 0 < len(expected) < 250, "the example should select something, not everything"
    assert body["meta"]["pagination"]["total_items"] == len(expected)
    assert [r["id"] for r in body["data"]] == expected[:100]


async def test_eq_on_id_and_user_id(raw_client, fake_server) -> None:
    records = fake_server.all_records()
    body = await raw_client.get(
        fake_server.page_endpoint, search=f"id:eq:{records[3]['id']},{records[7]['id']}"
    )
    assert [r["id"] for r in body["data"]] == [records[3]["id"], records[7]["id"]]
    user = records[0]["author"]
    body = await raw_client.get(fake_server.page_endpoint, search=f"author:eq:{user['id']}")
    assert body["data"]
    assert all(r["author"] == user for r in body["data"])


@pytest.mark.parametrize(
    ("search", "problem"),
    [
        ("nope:eq:1", {"dimension": "nope"}),
        ("input_medium:gt:a", {"dimension": "input_medium", "operator": "gt"}),
        ("input_medium:hasall:email", {"dimension": "input_medium", "operator": "hasall"}),
        ("created_at:gt:2024-01-01", {"dimension": "created_at", "value": "2024-01-01"}),
        ("created_at:gt:2024-01-01T00:00:00+01:00", {"operator": "gt"}),
        ("created_at:gt:2024-02-30T00:00:00Z", {"value": "2024-02-30T00:00:00Z"}),
        ("input_budget:gte:lots", {"dimension": "input_budget", "value": "lots"}),
        ("match_status:hasany:lost", {"dimension": "match_status", "value": "lost"}),
        ("input_segment:exists:vip", {"search": "input_segment:exists:vip"}),
        ("input_medium:like:email", {"search": "input_medium:like:email"}),
        ("input_medium:eq", {"search": "input_medium:eq"}),
        ("created_at:gt:2024-01-01T00:00:00Z,2024-02-01T00:00:00Z", {}),
        ("input_medium:eq:email;", {}),
        ("input_segment:exists:", {"filter": "input_segment:exists:"}),
        ("input_medium:eq:email,,social", {"filter": "input_medium:eq:email,,social"}),
        (":eq:email", {"filter": ":eq:email"}),
        ("input_medium:LIKE:email", {"operator": "LIKE"}),
        # Digits of another script: read by epoch on one path and as text on another.
        ("created_at:gte:\uff12\uff10\uff12\uff10-01-01T12:00:00Z", {"dimension": "created_at"}),
        ("input_budget:gte:\u0661\u0662", {"dimension": "input_budget"}),
    ],
)
async def test_bad_searches_are_422_invalid_search(
    raw_client, fake_server, search, problem
) -> None:
    for endpoint in (fake_server.page_endpoint, fake_server.cursor_endpoint):
        status, body = await raw_client.call("GET", endpoint, params={"search": search})
        assert status == 422
        assert body["error"]["code"] == "invalid_search"
        assert body["error"]["message"]
        assert problem.items() <= body["error"]["data"].items()


async def test_a_date_filter_from_f_selects_what_the_same_timestamp_does(fake_server) -> None:
    """F(...).lt(date) is sent as the day's first instant in Zulu, as API_BASICS.md shows."""
    cut = date(2022, 1, 1)
    expected = [
        r["id"]
        for r in fake_server.all_records()
        if r.get("input_start_date") and r["input_start_date"] < "2022-01-01T00:00:00Z"
    ]
    assert expected
    async with AccuticsClient(fake_server.token, base_url=fake_server.base_url) as client:
        found = [
            r["id"]
            async for r in client.paginate(
                fake_server.page_endpoint,
                search=F("input_start_date").lt(cut),
                sort="id",
                page_size=100,
            )
        ]
    assert sorted(found) == sorted(expected)
