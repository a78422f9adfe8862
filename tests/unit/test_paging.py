"""The pure pagination decisions in _sansio.paging: next request, plans, drift, checkpoints."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import PaginationError, UnsafeURLError
from accutics_async._sansio.converter import structure_meta
from accutics_async._sansio.paging import (
    PagePlan,
    PageRequest,
    WalkPosition,
    checkpoint_dict,
    drift_reason,
    next_request,
    page_plan,
    position_from_checkpoint,
    query_param,
    with_query_param,
)
from accutics_async._sansio.query import fingerprint

BASE = "https://api.example/v1"


def meta(pagination: dict[str, Any] | None) -> Any:
    return structure_meta({"endpoint": "records.index", "pagination": pagination})


def page_meta(**kw: Any) -> Any:
    fields = {
        "first": f"{BASE}/records?page=1",
        "current": f"{BASE}/records?page=1",
        "last": f"{BASE}/records?page=3",
        "previous": None,
        "next": None,
        "items_per_page": 10,
        "total_items": 25,
        "page_param": "page",
        "size_param": "page_size",
    }
    fields.update(kw)
    return meta(fields)


class TestNextRequest:
    def test_follows_absolute_next_link(self) -> None:
        current = PageRequest(f"{BASE}/records?page=1", 1)
        nxt = next_request(current, page_meta(next=f"{BASE}/records?page=2&sort=id"), BASE)
        assert nxt == PageRequest(f"{BASE}/records?page=2&sort=id", 2)

    def test_resolves_relative_next_against_current_url(self) -> None:
        current = PageRequest(f"{BASE}/records?page=1", 1)
        nxt = next_request(current, page_meta(next="?page=2"), BASE)
        assert nxt is not None
        assert nxt.url == f"{BASE}/records?page=2"
        nxt = next_request(current, page_meta(next="/v1/records?page=2"), BASE)
        assert nxt is not None
        assert nxt.url == f"{BASE}/records?page=2"

    def test_null_next_ends_a_page_number_walk(self) -> None:
        current = PageRequest(f"{BASE}/records?page=3", 3)
        assert next_request(current, page_meta(next=None), BASE) is None

    def test_missing_next_key_is_rebuilt_from_page_param(self) -> None:
        current = PageRequest(f"{BASE}/records?page_size=10", 1)
        m = meta({"items_per_page": 10, "total_items": 25, "page_param": "p"})
        nxt = next_request(current, m, BASE)
        assert nxt == PageRequest(f"{BASE}/records?page_size=10&p=2", 2)
        assert next_request(PageRequest(f"{BASE}/records?p=3", 3), m, BASE) is None

    def test_cursor_rebuilt_from_next_cursor_and_cursor_param(self) -> None:
        current = PageRequest(f"{BASE}/stream?page_size=5&search=a%3Aeq%3Ab")
        m = meta({"next_cursor": 255, "cursor_param": "after", "next": None})
        nxt = next_request(current, m, BASE)
        assert nxt is not None
        assert query_param(nxt.url, "after") == "255"
        assert query_param(nxt.url, "search") == "a:eq:b"
        assert query_param(nxt.url, "page_size") == "5"

    def test_cursor_replaces_the_previous_cursor(self) -> None:
        current = PageRequest(f"{BASE}/stream?cursor=aaa")
        nxt = next_request(current, meta({"next_cursor": "bbb", "cursor_param": "cursor"}), BASE)
        assert nxt is not None
        assert nxt.url == f"{BASE}/stream?cursor=bbb"

    def test_null_next_cursor_ends_a_cursor_walk(self) -> None:
        current = PageRequest(f"{BASE}/stream?cursor=aaa")
        m = meta({"next_cursor": None, "next": f"{BASE}/stream?cursor=zzz"})
        assert next_request(current, m, BASE) is None

    def test_no_pagination_means_one_page(self) -> None:
        assert next_request(PageRequest(f"{BASE}/x"), meta(None), BASE) is None

    @pytest.mark.parametrize(
        "link",
        [
            "https://evil.example/v1/records?page=2",
            "http://api.example/v1/records?page=2",  # downgrade
            "https://api.example:8443/v1/records?page=2",
            "https://user:pw@api.example/v1/records?page=2",
            "//evil.example/v1/records",
        ],
    )
    def test_foreign_next_link_is_refused(self, link: str) -> None:
        with pytest.raises(UnsafeURLError):
            next_request(PageRequest(f"{BASE}/records", 1), page_meta(next=link), BASE)


class TestPlan:
    def test_plans_the_remaining_pages_with_the_size_pinned(self) -> None:
        first = PageRequest(f"{BASE}/records?sort=id", 1)
        plan = page_plan(first, page_meta().pagination, item_budget=None)
        assert [r.number for r in plan] == [2, 3]
        assert query_param(plan[0].url, "page_size") == "10"
        assert query_param(plan[1].url, "page") == "3"
        assert query_param(plan[1].url, "sort") == "id"

    def test_budget_limits_the_plan_to_the_page_holding_the_last_item(self) -> None:
        first = PageRequest(f"{BASE}/records", 1)
        pagination = page_meta(total_items=1000).pagination
        assert [r.number for r in page_plan(first, pagination, item_budget=15)] == [2]
        assert page_plan(first, pagination, item_budget=10) == []

    @given(
        query=st.lists(
            st.tuples(st.sampled_from(["page", "page_size", "q", "p g", "é"]), st.text(max_size=5)),
            max_size=4,
        ),
        param=st.sampled_from(["page", "p g", "pagina", "é"]),
        fragment=st.sampled_from(["", "#top"]),
        numbers=st.tuples(st.integers(0, 10**12), st.integers(0, 5)),
    )
    def test_each_planned_url_is_the_template_with_that_page_set(
        self, query: list[tuple[str, str]], param: str, fragment: str, numbers: tuple[int, int]
    ) -> None:
        # Built from a head computed once; it must equal rebuilding each URL.
        template = f"{BASE}/records?{urlencode(query, quote_via=quote)}{fragment}"
        start, count = numbers
        plan = PagePlan(template, param, range(start, start + count))
        assert [r.url for r in plan] == [
            with_query_param(template, param, str(n)) for n in range(start, start + count)
        ]
        assert [r.number for r in plan] == list(range(start, start + count))

    def test_no_plan_without_totals(self) -> None:
        first = PageRequest(f"{BASE}/records", 1)
        assert page_plan(first, page_meta(total_items=None).pagination, item_budget=None) == []


class TestDrift:
    def check(self, **kw: Any) -> str | None:
        args: dict[str, Any] = {
            "pagination": page_meta().pagination,
            "expected_total": 25,
            "is_last_planned": False,
            "count": 10,
            "ids": {"a", "b"},
            "recent": [{"x"}, set()],
        }
        args.update(kw)
        return drift_reason(**args)

    def test_a_consistent_page_is_trusted(self) -> None:
        assert self.check() is None
        assert self.check(is_last_planned=True, count=5) is None

    def test_changed_total(self) -> None:
        assert "total_items" in (self.check(expected_total=24) or "")

    def test_short_page_before_the_last(self) -> None:
        assert "short page" in (self.check(count=9) or "")

    def test_repeated_id(self) -> None:
        assert self.check(recent=[{"x"}, {"b", "y"}]) == "record 'b' seen twice"


class TestCheckpoint:
    fp = fingerprint(f"{BASE}/records", search=None, sort="id", page_size=10, params=[])

    def test_round_trip_mid_page(self) -> None:
        position = WalkPosition(PageRequest(f"{BASE}/records?page=2", 2), skip=3, yielded=13)
        ck = checkpoint_dict(position, self.fp)
        assert position_from_checkpoint(ck, fp=self.fp, base_url=BASE) == position

    def test_done_round_trip(self) -> None:
        ck = checkpoint_dict(WalkPosition(None, 0, 25), self.fp)
        assert ck["done"] is True
        assert position_from_checkpoint(ck, fp=self.fp, base_url=BASE).request is None

    def test_fingerprint_depends_on_every_part_of_the_query(self) -> None:
        variants = {
            fingerprint(f"{BASE}/records", search=None, sort="id", page_size=10, params=[]),
            fingerprint(f"{BASE}/other", search=None, sort="id", page_size=10, params=[]),
            fingerprint(f"{BASE}/records", search="a:exists", sort="id", page_size=10, params=[]),
            fingerprint(f"{BASE}/records", search=None, sort="-id", page_size=10, params=[]),
            fingerprint(f"{BASE}/records", search=None, sort="id", page_size=11, params=[]),
            fingerprint(
                f"{BASE}/records", search=None, sort="id", page_size=10, params=[("x", "1")]
            ),
        }
        assert len(variants) == 6

    def test_checkpoint_for_another_query_is_refused(self) -> None:
        ck = checkpoint_dict(WalkPosition(PageRequest(f"{BASE}/records", 1)), "other")
        with pytest.raises(PaginationError, match="another query"):
            position_from_checkpoint(ck, fp=self.fp, base_url=BASE)

    @pytest.mark.parametrize(
        "patch",
        [{"version": 99}, {"skip": -1}, {"skip": "3"}, {"yielded": True}, {"url": None}],
    )
    def test_malformed_checkpoint_is_refused(self, patch: dict[str, Any]) -> None:
        ck = checkpoint_dict(WalkPosition(PageRequest(f"{BASE}/records", 1)), self.fp)
        ck.update(patch)
        with pytest.raises(PaginationError):
            position_from_checkpoint(ck, fp=self.fp, base_url=BASE)

    def test_tampered_url_cannot_redirect_the_token(self) -> None:
        ck = checkpoint_dict(WalkPosition(PageRequest("https://evil.example/v1/records")), self.fp)
        with pytest.raises(UnsafeURLError):
            position_from_checkpoint(ck, fp=self.fp, base_url=BASE)


def test_with_query_param_keeps_other_parameters_and_encodes() -> None:
    url = with_query_param(f"{BASE}/r?search=a%3Aeq%3Ax%20y&page=1", "page", "2")
    assert query_param(url, "search") == "a:eq:x y"
    assert query_param(url, "page") == "2"
    assert url.count("page=") == 1
