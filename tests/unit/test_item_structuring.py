"""``async for`` with a model: items are structured as they are handed out, not a page ahead."""

from __future__ import annotations

import weakref

import attrs
import pytest
from aioresponses import aioresponses

from accutics_async import AccuticsClient, DecodeError

BASE = "https://api.example.com/v1"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"


@attrs.frozen
class Thing:
    id: str
    n: int


def things(count: int) -> list[dict[str, object]]:
    return [{"id": f"t{i}", "n": i} for i in range(count)]


async def test_items_a_consumer_drops_are_freed_before_its_page_ends(
    mock_http: aioresponses,
) -> None:
    # A page structured whole lives until its last item is read: hundreds of
    # new objects at once, which is what sets the garbage collector off.
    mock_http.get(f"{BASE}/things", payload={"data": things(100)})
    alive_at_the_end = []
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        refs: list[weakref.ref[Thing]] = []
        async for thing in client.paginate("/things", model=Thing):
            refs.append(weakref.ref(thing))
            if len(refs) == 100:
                alive_at_the_end = [i for i, ref in enumerate(refs) if ref() is not None]
    assert [ref() for ref in refs[:50]] == [None] * 50
    # The item held, and at most the rest of its small batch.
    assert 99 in alive_at_the_end
    assert len(alive_at_the_end) <= 16


async def test_the_items_before_a_bad_one_are_handed_out_and_the_checkpoint_stays_on_it(
    mock_http: aioresponses,
) -> None:
    bad = things(40)
    bad[21] = {"id": "t21", "n": "twenty-one"}
    mock_http.get(f"{BASE}/things", payload={"data": bad})
    mock_http.get(f"{BASE}/things", payload={"data": things(40)})  # fixed by the time of the resume
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        pager = client.paginate("/things", model=Thing)
        got: list[Thing] = []
        with pytest.raises(DecodeError, match="item 21 does not fit Thing: field 'n'") as info:
            async for thing in pager:
                got.append(thing)
        assert info.value.kind == "bad_item"
        assert got == [Thing(f"t{i}", i) for i in range(21)]
        resumed = client.paginate("/things", model=Thing, resume=pager.checkpoint)
        assert [thing.n async for thing in resumed] == list(range(21, 40))


async def test_a_bad_first_item_hands_out_nothing_and_resumes_at_the_start(
    mock_http: aioresponses,
) -> None:
    mock_http.get(f"{BASE}/things", payload={"data": [{"id": "t0"}, *things(3)[1:]]})
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        pager = client.paginate("/things", model=Thing)
        with pytest.raises(DecodeError, match=r"item 0 does not fit Thing: field 'n \(missing\)'"):
            await pager.collect()
        assert pager.checkpoint["skip"] == 0
        assert pager.checkpoint["yielded"] == 0


async def test_max_items_and_pages_still_structure_every_item_they_hand_out(
    mock_http: aioresponses,
) -> None:
    mock_http.get(f"{BASE}/things", payload={"data": things(50)}, repeat=True)
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        assert await client.paginate("/things", model=Thing).collect(limit=37) == [
            Thing(f"t{i}", i) for i in range(37)
        ]
        page = await client.paginate("/things", model=Thing).first_page()
        assert list(page.items) == [Thing(f"t{i}", i) for i in range(50)]
        async for page in client.paginate("/things", model=Thing).pages():
            assert all(isinstance(item, Thing) for item in page.items)


def page(number: int, data: list[dict[str, object]], *, last: bool) -> dict[str, object]:
    pagination = {"items_per_page": 3, "total_items": 6, "page_param": "page"}
    if not last:
        pagination["next"] = f"{BASE}/things?page={number + 1}"
    return {"data": data, "meta": {"pagination": pagination}}


async def test_a_record_repeated_at_a_page_boundary_is_skipped_and_the_rest_structured(
    mock_http: aioresponses,
) -> None:
    # Records moved by one between the two requests: t2 comes again on page 2.
    first, second = things(6)[:3], things(6)[2:5]
    second[2] = {"id": "t4", "n": None}
    mock_http.get(f"{BASE}/things", payload=page(1, first, last=False))
    mock_http.get(f"{BASE}/things?page=2", payload=page(2, second, last=True))
    mock_http.get(
        f"{BASE}/things?page=2", payload=page(2, things(6)[2:5], last=True)
    )  # fixed by the time of the resume
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        pager = client.paginate("/things", model=Thing)
        got: list[int] = []
        with pytest.raises(DecodeError, match="item 2 does not fit Thing: field 'n'"):
            async for thing in pager:
                got.append(thing.n)
        assert got == [0, 1, 2, 3]  # t2 once; t4, which does not fit, not handed out
        resumed = client.paginate("/things", model=Thing, resume=pager.checkpoint)
        assert [thing.n async for thing in resumed] == [4]


async def test_a_bad_item_past_where_the_consumer_stops_is_never_structured(
    mock_http: aioresponses,
) -> None:
    data = things(40)
    data[30] = {"id": "t30"}
    mock_http.get(f"{BASE}/things", payload={"data": data}, repeat=True)
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        assert len(await client.paginate("/things", model=Thing).collect(limit=20)) == 20
        async for thing in client.paginate("/things", model=Thing):
            assert thing == Thing("t0", 0)
            break
        with pytest.raises(DecodeError, match="item 30"):
            await client.paginate("/things", model=Thing).collect()


@pytest.mark.parametrize("model", [None, Thing])
@pytest.mark.parametrize("by_page", [False, True])
async def test_a_repeated_record_is_dropped_whatever_the_pages_hold(
    mock_http: aioresponses, model: type[Thing] | None, by_page: bool
) -> None:
    # Records moved by one between the requests: t2 comes again on page 2.
    # Pages of dicts, of models structured as they are handed out, and of
    # models structured whole for pages(): each drops it once.
    first, second = things(6)[:3], things(6)[2:5]
    mock_http.get(f"{BASE}/things", payload=page(1, first, last=False))
    mock_http.get(f"{BASE}/things?page=2", payload=page(2, second, last=True))
    async with AccuticsClient(TOKEN, base_url=BASE) as client:
        pager = client.paginate("/things", model=model)
        if by_page:
            got = [item async for p in pager.pages() for item in p.items]
        else:
            got = [item async for item in pager]
    ids = [item["id"] if model is None else item.id for item in got]  # type: ignore[index, union-attr]
    assert ids == ["t0", "t1", "t2", "t3", "t4"]
