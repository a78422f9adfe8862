"""A checkpoint's URL must be for the walk's own listing: only the page or cursor may differ."""

from __future__ import annotations

import pytest

from accutics_async._sansio.paging import CHECKPOINT_VERSION, position_from_checkpoint
from accutics_async.errors import PaginationError

BASE = "https://api.example.com/v1"
START = f"{BASE}/records?status=open&search=a%3Aeq%3Ab&sort=created_at&page_size=50"


def resume(url: str, start: str = START) -> str:
    checkpoint = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": "fp",
        "done": False,
        "url": url,
        "page": 3,
        "skip": 0,
        "yielded": 100,
    }
    position = position_from_checkpoint(checkpoint, fp="fp", base_url=BASE, start_url=start)
    assert position.request is not None
    return position.request.url


@pytest.mark.parametrize(
    "url",
    [
        f"{START}&page=3",
        f"{BASE}/records?page=3&page_size=50&sort=created_at&search=a:eq:b",  # reordered, decoded
        f"{BASE}/records?search=a%3Aeq%3Ab&sort=created_at&page_size=50&cursor=xyz",
        f"{BASE}/records/?search=a%3Aeq%3Ab&sort=created_at&page_size=50&after=xyz",  # own cursor
    ],
)
def test_a_later_page_of_the_same_listing_resumes(url: str) -> None:
    assert resume(url) == url


def test_a_server_may_add_its_default_page_size_but_not_a_search_or_sort() -> None:
    start = f"{BASE}/records"
    assert resume(f"{start}?page=2&page_size=100", start).endswith("page_size=100")
    for added in ("search=a%3Aeq%3Ab", "sort=-created_at"):
        with pytest.raises(PaginationError, match="another listing"):
            resume(f"{start}?page=2&{added}", start)


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/users?status=open&search=a%3Aeq%3Ab&sort=created_at&page_size=50&page=3",
        f"{BASE}/records?status=closed&search=a%3Aeq%3Ab&sort=created_at&page_size=50&page=3",
        f"{BASE}/records?status=open&search=x%3Aeq%3Ay&sort=created_at&page_size=50&page=3",
        f"{BASE}/records?status=open&sort=created_at&page_size=50&page=3",  # search dropped
        f"{BASE}/records?status=open&search=a%3Aeq%3Ab&sort=-created_at&page_size=50&page=3",
        f"{BASE}/records?status=open&search=a%3Aeq%3Ab&sort=created_at&page_size=5&page=3",
        f"{BASE}/records?status=open&search=a%3Aeq%3Ab&search=c%3Aeq%3Ad&sort=created_at"
        "&page_size=50&page=3",
    ],
)
def test_a_url_for_another_path_or_query_is_refused(url: str) -> None:
    with pytest.raises(PaginationError, match="another listing"):
        resume(url)
