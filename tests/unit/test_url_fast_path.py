"""resolve_link/build_url skip urljoin for plain absolute links: same result, same checks."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import UnsafeURLError
from accutics_async._sansio.protocol import (
    _PLAIN_ABSOLUTE,
    _origin,
    build_url,
    check_same_origin,
    resolve_link,
)

BASE = "http://127.0.0.1:8080/v1"
CURRENTS = [f"{BASE}/records?page=2", "https://api.example.com/v1/x", "http://h"]


@given(st.from_regex(_PLAIN_ABSOLUTE, fullmatch=True), st.sampled_from(CURRENTS))
def test_urljoin_leaves_a_plain_absolute_link_unchanged(link: str, current: str) -> None:
    assert urljoin(current, link) == link


def slow_resolve(current: str, link: str, base: str) -> str:
    """resolve_link as it is written without the fast path.

    urljoin raises a bare ValueError for some malformed links (an unclosed
    IPv6 bracket); the library's contract is UnsafeURLError for those.
    """
    try:
        joined = urljoin(current, link)
    except ValueError as exc:
        raise UnsafeURLError(str(exc)) from exc
    return check_same_origin(base, joined)


def outcome(func: Callable[..., str], *args: str) -> object:
    try:
        return ("ok", func(*args))
    except Exception as exc:
        return ("error", type(exc))


links = st.one_of(
    st.from_regex(_PLAIN_ABSOLUTE, fullmatch=True),
    st.builds(lambda tail: f"{BASE}{tail}", st.text(max_size=12)),
    st.builds(lambda tail: f"http://127.0.0.1:8080{tail}", st.text(max_size=12)),
    st.text(max_size=20),
)


@given(links, st.sampled_from(CURRENTS))
def test_resolve_link_matches_the_plain_computation(link: str, current: str) -> None:
    assert outcome(resolve_link, current, link, BASE) == outcome(slow_resolve, current, link, BASE)


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:8081/v1/records",  # another port
        "https://127.0.0.1:8080/v1/records",  # another scheme
        "http://127.0.0.2:8080/v1/records",  # another host
        "http://evil.example/v1/records",
    ],
)
def test_the_fast_path_still_refuses_another_origin(link: str) -> None:
    assert _PLAIN_ABSOLUTE.fullmatch(link)
    with pytest.raises(UnsafeURLError):
        resolve_link(f"{BASE}/records", link, BASE)
    with pytest.raises(UnsafeURLError):
        build_url(BASE, link)


def slow_same_origin(base: str, url: str) -> str:
    """check_same_origin without its shortcut for URLs that start with the base."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError as exc:  # the library's contract: UnsafeURLError
        raise UnsafeURLError(str(exc)) from exc
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("user info")
    if _origin(url) != _origin(base):
        raise UnsafeURLError("another origin")
    return url


bases = st.sampled_from(
    [BASE, "http://127.0.0.1:8080", "https://API.example.com:443/v1", "http://u@h/v1"]
)
tails = st.text(alphabet="/?#@:.%2eE\\a-_", max_size=12)


@given(bases, st.one_of(tails, st.builds(lambda t: "/" + t, tails)), st.text(max_size=8))
def test_check_same_origin_matches_the_full_parse(base: str, tail: str, prefix: str) -> None:
    for url in (base + tail, prefix + base + tail, base.upper() + tail):
        assert outcome(check_same_origin, base, url) == outcome(slow_same_origin, base, url)


@given(st.from_regex(_PLAIN_ABSOLUTE, fullmatch=True))
def test_the_plain_form_s_path_is_the_parsed_path(link: str) -> None:
    match = _PLAIN_ABSOLUTE.fullmatch(link)
    assert match is not None
    assert (match["path"] or "") == urlsplit(link).path
