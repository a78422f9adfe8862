"""Error envelopes and the single-record endpoints of the fake server."""

from __future__ import annotations

import io
import json

import aiohttp
import pytest


def assert_error(status: int, body: dict, expected_status: int, code: str) -> dict:
    assert status == expected_status, body
    assert set(body) == {"error", "meta"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["data"], dict)
    assert "endpoint" in body["meta"]
    return body


@pytest.mark.parametrize("endpoint", ["page_endpoint", "cursor_endpoint"])
async def test_missing_or_empty_authorization_is_401(raw_client, fake_server, endpoint) -> None:
    path = getattr(fake_server, endpoint)
    status, body = await raw_client.call("GET", path, token=None)
    assert_error(status, body, 401, "authorization_header_missing")
    async with raw_client.session.get(
        fake_server.url(path), headers={"Authorization": "  "}
    ) as response:
        assert_error(response.status, await response.json(), 401, "authorization_header_missing")


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic abc", "{token}", "Bearer"])
async def test_unknown_or_malformed_token_is_401_invalid_token(
    raw_client, fake_server, header
) -> None:
    headers = {"Authorization": header.format(token=fake_server.token)}
    async with raw_client.session.get(
        fake_server.url(fake_server.page_endpoint), headers=headers
    ) as response:
        assert_error(response.status, await response.json(), 401, "invalid_token")


async def test_bearer_scheme_is_case_insensitive(raw_client, fake_server) -> None:
    headers = {"Authorization": f"bearer {fake_server.token}"}
    async with raw_client.session.get(
        fake_server.url(fake_server.page_endpoint), headers=headers
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("GET", "/records", "records.index"),
        ("GET", "/stream/records", "records.cursor"),
        ("GET", "/records/{id}", "records.show"),
        ("DELETE", "/records/{id}", "records.destroy"),
    ],
)
async def test_restricted_token_is_403_authorization(
    raw_client, fake_server, method, path, endpoint
) -> None:
    record_id = fake_server.all_records()[0]["id"]
    status, body = await raw_client.call(
        method, path.format(id=record_id), token=fake_server.restricted_token
    )
    assert_error(status, body, 403, "authorization")
    assert body["meta"]["endpoint"] == endpoint
    assert fake_server.get_record(record_id) is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("GET", "/records/"),
        ("GET", "/records/a/b"),
        ("DELETE", "/records"),
        ("PUT", "/stream/records"),
        ("POST", "/records/{id}"),
        ("OPTIONS", "/records"),
    ],
)
async def test_unknown_route_or_method_is_400_invalid_route(
    raw_client, fake_server, method, path
) -> None:
    record_id = fake_server.all_records()[0]["id"]
    for token in ("default", None):  # routing comes before authentication
        status, body = await raw_client.call(method, path.format(id=record_id), token=token)
        assert_error(status, body, 400, "invalid_route")
        assert body["meta"]["endpoint"] is None
        assert body["error"]["data"]["method"] == method


async def test_paths_outside_the_base_path_are_invalid_routes(raw_client, fake_server) -> None:
    # A client that drops the "/v1" base path must notice.
    base = fake_server.base_url.removesuffix("/v1")
    for url in (base + "/records", base + "/", base + "/v2/records"):
        status, body = await raw_client.call("GET", url)
        assert_error(status, body, 400, "invalid_route")


async def test_show_and_404(raw_client, fake_server) -> None:
    record = fake_server.all_records()[17]
    body = await raw_client.get(f"/records/{record['id']}")
    assert body == {"data": record, "meta": {"endpoint": "records.show"}}
    for missing in ("nope", "00000000-0000-4000-8000-000000000000", record["id"][:-1] + "0"):
        status, body = await raw_client.call("GET", f"/records/{missing}")
        assert_error(status, body, 404, "not_found")
        assert body["error"]["data"] == {"id": missing}


NEW = {"input_campaign_name": "Fresh Start", "input_medium": "email", "input_source": "crm"}
NEW_BYTES = json.dumps(NEW).encode()


async def test_create_show_update_delete(raw_client, fake_server) -> None:
    status, created = await raw_client.call(
        "POST", "/records", json={**NEW, "input_tags": ["promo"], "input_segment": "vip"}
    )
    assert status == 201
    assert created["meta"] == {"endpoint": "records.store"}
    record = created["data"]
    assert record["match_status"] == "unmatched"
    assert record["output_utm_source"] == "crm"
    assert record["author"]["name"] == "API User"
    assert record["created_at"] > max(r["updated_at"] for r in fake_server.all_records()[:-1])
    # New records are the newest: last in the default order.
    assert fake_server.all_records()[-1] == record
    assert (await raw_client.get(f"/records/{record['id']}"))["data"] == record

    status, patched = await raw_client.call(
        "PATCH",
        f"/records/{record['id']}",
        json={"input_source": "newsletter", "input_segment": None},
    )
    assert status == 200
    assert patched["meta"]["endpoint"] == "records.update"
    assert patched["data"]["input_source"] == "newsletter"
    assert patched["data"]["output_utm_source"] == "newsletter"
    assert patched["data"]["input_segment"] is None
    assert patched["data"]["input_tags"] == ["promo"]
    assert patched["data"]["updated_at"] > record["updated_at"]

    status, replaced = await raw_client.call("PUT", f"/records/{record['id']}", json=NEW)
    assert status == 200
    assert "input_tags" not in replaced["data"]
    assert replaced["data"]["created_at"] == record["created_at"]

    status, deleted = await raw_client.call("DELETE", f"/records/{record['id']}")
    assert (status, deleted["meta"]["endpoint"]) == (200, "records.destroy")
    assert deleted["data"] == replaced["data"]
    status, body = await raw_client.call("GET", f"/records/{record['id']}")
    assert_error(status, body, 404, "not_found")
    assert len(fake_server.all_records()) == 250


async def test_writes_show_in_collections_at_once(raw_client, fake_server) -> None:
    before = await raw_client.get("/records", search="input_campaign_name:eq:Fresh Start")
    assert before["meta"]["pagination"]["total_items"] == 0
    await raw_client.call("POST", "/records", json=NEW)
    after = await raw_client.get("/records", search="input_campaign_name:eq:Fresh Start")
    assert after["meta"]["pagination"]["total_items"] == 1


async def test_editing_a_matched_record_makes_it_outdated(raw_client, fake_server) -> None:
    record = next(r for r in fake_server.all_records() if r["match_status"] == "synced")
    status, body = await raw_client.call(
        "PATCH", f"/records/{record['id']}", json={"input_budget": 1234}
    )
    assert status == 200
    assert body["data"]["match_status"] == "outdated"
    assert body["data"]["updater"]["name"] == "API User"


@pytest.mark.parametrize(
    ("method", "payload", "bad"),
    [
        ("POST", b"not json", "body"),
        ("POST", b"[1, 2]", None),
        ("POST", b'{"input_medium": "email", "input_source": "crm"}', "input_campaign_name"),
        ("POST", b'{"id": "x", ' + NEW_BYTES[1:], "id"),
        ("POST", NEW_BYTES.replace(b'"email"', b'"fax"'), "input_medium"),
        ("PATCH", b'{"input_tags": ["promo", "nope"]}', "input_tags"),
        ("PATCH", b'{"input_start_date": "2024-01-01"}', "input_start_date"),
        ("PATCH", b'{"input_budget": "many"}', "input_budget"),
        ("PATCH", b'{"input_budget": true}', "input_budget"),
        ("PATCH", b'{"input_campaign_name": null}', "input_campaign_name"),
        ("PATCH", b'{"match_status": "synced"}', "match_status"),
        ("PUT", b'{"input_campaign_name": "only this"}', "input_medium"),
    ],
)  # fmt: skip
async def test_bad_bodies_are_422_invalid_body(
    raw_client, fake_server, method, payload, bad
) -> None:
    record = fake_server.all_records()[0]
    path = "/records" if method == "POST" else f"/records/{record['id']}"
    status, body = await raw_client.call(method, path, data=payload)
    assert_error(status, body, 422, "invalid_body")
    if bad is not None:
        assert bad in body["error"]["data"]["errors"]
    assert fake_server.get_record(record["id"]) == record
    assert len(fake_server.all_records()) == 250


async def test_dates_in_bodies_are_normalised(raw_client, fake_server) -> None:
    record_id = fake_server.all_records()[0]["id"]
    status, body = await raw_client.call(
        "PATCH", f"/records/{record_id}", json={"input_start_date": "2024-03-01T00:00:00.250Z"}
    )
    assert status == 200
    assert body["data"]["input_start_date"] == "2024-03-01T00:00:00Z"


async def test_errors_never_leak_aiohttp_pages(raw_client, fake_server) -> None:
    # A body over aiohttp's limit is refused by aiohttp itself, still enveloped.
    async with raw_client.session.post(
        fake_server.url("/records"),
        data=io.BytesIO(b"x" * (2 * 1024 * 1024)),
        headers={"Authorization": f"Bearer {fake_server.token}"},
    ) as response:
        assert response.status == 413
        assert response.content_type == "application/json"
        body = await response.json()
        assert body["error"]["code"] == "request_entity_too_large"
        assert body["meta"]["endpoint"] == "records.store"


async def test_head_is_not_a_route(raw_client, fake_server) -> None:
    async with raw_client.session.head(fake_server.url("/records")) as response:
        assert response.status == 400
    assert isinstance(raw_client.session, aiohttp.ClientSession)
