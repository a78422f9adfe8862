"""The fake server's test clock, programmatic writes and changes between pages."""

from __future__ import annotations

import pytest

from accutics_async import AccuticsClient
from accutics_async.testing import FakeAccuticsServer, FakeClock


async def test_without_a_clock_writes_keep_the_logical_clock() -> None:
    async with FakeAccuticsServer(records=5, seed=1) as server:
        first = server.create_record()
        second = server.create_record()
    assert first["created_at"] < second["created_at"]  # one second apart, as before


async def test_a_still_clock_stamps_many_writes_in_one_second() -> None:
    clock = FakeClock()
    async with FakeAccuticsServer(records=5, seed=1, clock=clock) as server:
        stamp = clock.iso()
        made = [server.create_record() for _ in range(4)]
        ids = [r["id"] for r in server.all_records()]
        updated = server.update_record(ids[0], {"input_content": "changed"})
    assert {r["updated_at"] for r in made} == {stamp}
    assert updated["updated_at"] == stamp
    assert updated["input_content"] == "changed"
    # The unset clock started after every generated timestamp.
    assert all(r["updated_at"] < stamp for r in server.all_records()[:5] if r["id"] != ids[0])


async def test_a_late_commit_is_stamped_earlier_and_kept_in_created_order() -> None:
    clock = FakeClock()
    async with FakeAccuticsServer(records=5, seed=1, clock=clock) as server:
        newest = server.create_record()
        late = server.create_record(stamp=clock.now - 10)
        records = server.all_records()
    assert late["created_at"] < newest["created_at"]
    assert [r["id"] for r in records[-2:]] == [late["id"], newest["id"]]
    created = [r["created_at"] for r in records]
    assert created == sorted(created)


async def test_update_record_of_an_unknown_id_and_bad_fields_raise() -> None:
    async with FakeAccuticsServer(records=2, seed=1) as server:
        with pytest.raises(KeyError):
            server.update_record("00000000-0000-4000-8000-000000000000")
        some = server.all_records()[0]["id"]
        with pytest.raises(ValueError):
            server.update_record(some, {"input_medium": "no-such-medium"})
        with pytest.raises(ValueError):
            server.create_record(stamp="yesterday")


async def test_after_pages_changes_data_between_pages_and_items_are_counted() -> None:
    async with FakeAccuticsServer(records=30, seed=1) as server:
        target = server.all_records()[25]["id"]
        server.after_pages(1, lambda: server.update_record(target, {"input_content": "new"}))
        async with AccuticsClient(server.token, base_url=server.base_url) as client:
            pages = [p async for p in client.paginate(server.page_endpoint, page_size=10).pages()]
        served = [r for p in pages for r in p.items]
    assert server.listing_pages == 3
    assert server.stats.items_served == 30
    # Page 1 was built before the change, page 3 (which holds the record) after it.
    assert next(r for r in served if r["id"] == target)["input_content"] == "new"
    server.reset_stats()
    assert server.stats.items_served == 0
