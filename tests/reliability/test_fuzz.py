"""Property fuzzing of what a server controls: envelopes, search text, next links.

Whatever the input, the answer is a value or an ``AccuticsError``; a
resolved link is on the base origin as *both* urllib (which the library
checks with) and yarl (which aiohttp sends with) read it; the strict
envelope parser agrees with orjson except that it refuses repeated keys
outside ``data``. Inputs worth keeping live in ``tests/samples/fuzz/`` and
are replayed by :func:`test_the_fuzz_corpus_replays_cleanly`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yarl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accutics_async import AccuticsError, DecodeError, Response, Search, SearchSyntaxError
from accutics_async._sansio.converter import structure_meta
from accutics_async._sansio.envelope import decode_response
from accutics_async._sansio.paging import PageRequest, next_request
from accutics_async._sansio.protocol import build_url, resolve_link
from accutics_async._sansio.strict_json import DuplicateKeyError, load_envelope

BASE = "https://api.example.com/v1"
CURRENT = f"{BASE}/records?page=1&page_size=100"
ORIGIN = ("https", "api.example.com", 443)
CORPUS = Path(__file__).parent.parent / "samples" / "fuzz"

# ACCUTICS_FUZZ_EXAMPLES=20000 for a long hunt; the default keeps CI quick.
# (Deadline and health checks: the suite's profile, tests/conftest.py.)
fuzz = settings(max_examples=int(os.environ.get("ACCUTICS_FUZZ_EXAMPLES", "300")))


# -- the envelope decoder ---------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
keys = st.one_of(
    st.sampled_from(["id", "data", "meta", "next", "error", "pagination", "é", 'a"b', "\\"]),
    st.text(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)
PAGINATION_KEYS = [
    "first", "previous", "current", "next", "last", "items_per_page", "total_items",
    "page_param", "size_param", "next_cursor", "cursor_param",
]  # fmt: skip
paginations = st.dictionaries(
    st.sampled_from(PAGINATION_KEYS),
    st.one_of(scalars, st.just(f"{BASE}/records?page=2"), st.just("//evil.example/x")),
    max_size=6,
)
metas = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"endpoint": scalars, "pagination": paginations}),
    st.dictionaries(keys, values, max_size=3),
)
records = st.lists(st.dictionaries(keys, values, min_size=1, max_size=4), max_size=4)


def _key(text: str, escaped: bool) -> str:
    if escaped and text:  # a spelling orjson and json read as the same key
        units = text.encode("utf-16-be", "surrogatepass")
        pairs = (units[i : i + 2].hex() for i in range(0, len(units), 2))
        return '"' + "".join(f"\\u{unit}" for unit in pairs) + '"'
    return orjson.dumps(text).decode()


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _render(value: Any, path: str, dup_at: str, escaped: bool, ws: str) -> str:
    """JSON text for ``value``; the object at ``dup_at`` gets its first key once more."""
    if isinstance(value, dict):
        members = [
            f"{_key(k, False)}{ws}:{ws}{_render(v, _child(path, k), dup_at, escaped, ws)}"
            for k, v in value.items()
        ]
        if path == dup_at and value:
            first = next(iter(value))
            # The repeat comes first, so the value orjson keeps is the real one.
            members.insert(0, f"{_key(first, escaped)}:{orjson.dumps('repeat').decode()}")
        return "{" + ws + f",{ws}".join(members) + ws + "}"
    if isinstance(value, list):
        return (
            "["
            + ",".join(_render(v, f"{path}[{i}]", dup_at, escaped, ws) for i, v in enumerate(value))
            + "]"
        )
    return orjson.dumps(value).decode()


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], str]:
    """``(body, the envelope orjson reads from it, where a key is repeated or "")``."""
    data = draw(records)
    meta = draw(metas)
    layout = draw(st.sampled_from(["data_first", "meta_first", "data_only", "extra_member"]))
    doc: dict[str, Any] = {"data": data}
    if layout == "data_only":
        meta = None
    elif layout == "meta_first":
        doc = {"meta": meta, "data": data}
    elif layout == "data_first":
        doc["meta"] = meta
    elif layout == "extra_member":
        doc = {
            "data": data,
            "links": draw(st.dictionaries(keys, scalars, max_size=2)),
            "meta": meta,
        }
    candidates = ["", "", "top", "data[0]"]
    if isinstance(meta, dict) and meta:
        candidates.append("meta")
        if isinstance(meta.get("pagination"), dict) and meta["pagination"]:
            candidates.append("meta.pagination")
    where = draw(st.sampled_from(candidates))
    if where == "data[0]" and not data:
        where = ""
    path = "" if where == "top" else where
    dup_at = "<none>" if not where else path
    ws = draw(st.sampled_from(["", " ", "\n\t "]))
    body = _render(doc, "", dup_at, draw(st.booleans()), ws).encode()
    return (ws.encode() + body + ws.encode()), doc, where


@fuzz
@given(envelopes())
def test_the_strict_parser_agrees_with_orjson_but_refuses_repeats_outside_data(
    case: tuple[bytes, dict[str, Any], str],
) -> None:
    body, doc, where = case
    if where in ("top", "meta", "meta.pagination"):
        with pytest.raises(DuplicateKeyError):
            load_envelope(body)
        with pytest.raises(DecodeError) as info:
            decode_response(200, {}, body, url=BASE)
        assert info.value.kind == "duplicate_key"
    else:  # none, or inside a record: read exactly as orjson reads it (last wins)
        assert load_envelope(body) == orjson.loads(body) == doc


def _mutations(body: bytes) -> st.SearchStrategy[bytes]:
    junk = st.sampled_from(
        [b'"', b",", b"{", b"}", b"[", b"]", b":", b"\\", b"\xff", b"\x00", b" "]
    )

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(body)
        for _ in range(draw(st.integers(1, 4))):
            if not out:
                break
            at = draw(st.integers(0, len(out) - 1))
            op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "repeat"]))
            if op == "insert":
                out[at:at] = draw(junk)
            elif op == "delete":
                del out[at : at + draw(st.integers(1, 8))]
            elif op == "replace":
                out[at : at + 1] = draw(junk)
            elif op == "truncate":
                del out[at:]
            else:
                end = min(len(out), at + draw(st.integers(1, 16)))
                out[end:end] = out[at:end]
        return bytes(out)

    return mutate()


@fuzz
@given(envelopes().flatmap(lambda case: _mutations(case[0])), st.sampled_from([200, 201, 500]))
def test_a_mangled_envelope_is_a_response_or_our_error(body: bytes, status: int) -> None:
    try:
        resp = decode_response(status, {}, body, url=BASE)
    except AccuticsError:
        return
    assert isinstance(resp, Response)
    # Never accepts what orjson refuses, and never reads the data differently.
    assert resp.data == orjson.loads(body)["data"]


# -- Search.parse -------------------------------------------------------------------

OPERATORS = [
    "eq", "equals", "=", "neq", "notequals", "!=", "gt", ">", "gte", ">=", "lt", "<", "lte",
    "<=", "contains", "beginswith", "startswith", "endswith", "exists", "missing", "hasany",
    "has_any", "hasall", "has_all", "hasnone", "has_none", "EQ", "like", "", "==", "=>",
]  # fmt: skip
piece = st.one_of(
    st.sampled_from(["created_at", "input_tags", "id", "match_status", "a b", "é", ""]),
    st.sampled_from(OPERATORS),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(["2024-01-01T00:00:00Z", "foo,bar", ",", ":", ";", "\x00", "\r\n", "%3B"]),
)
search_text = st.lists(
    st.lists(piece, min_size=1, max_size=4).map(":".join), min_size=1, max_size=3
).map(";".join)


@fuzz
@given(st.one_of(search_text, st.text(max_size=40)))
def test_search_parse_answers_with_a_search_or_a_syntax_error(text: str) -> None:
    try:
        search = Search.parse(text)
    except SearchSyntaxError:
        return  # an AccuticsError and a ValueError, as the contract says
    # What it accepted round-trips through the wire form, operators canonical.
    assert Search.parse(str(search)) == search
    assert all(f.operator in OPERATORS for f in search.filters)


# -- next links ---------------------------------------------------------------------

HOSTS = [
    "api.example.com",
    "API.Example.COM",
    "api.example.com.",
    "evil.example",
    "127.0.0.1",
    "[::1]",
    "api.example.com\\@evil.example",
    "api.example.com%2f@evil",
    "api.example.com#@evil.example",
    "api.example.com?@evil.example",
    "",
    "api.example.com\t",
    "api.exa\nmple.com",
    "xn--pi-7ba.example",
    "api.example.com ",
]
link_parts = st.tuples(
    st.sampled_from(["https:", "http:", "HTTPS:", "", "javascript:", "ftp:", "https;"]),
    st.sampled_from(["//", "/", "\\\\", "///", "", "/\\", "\\/"]),
    st.sampled_from(["", "user@", "user:pw@", "api.example.com@", ":@", "a%40b@", "@"]),
    st.sampled_from(HOSTS),
    st.sampled_from(["", ":443", ":80", ":8443", ":0", ":99999", ":abc", ":", ":0443"]),
    st.sampled_from(["", "/v1/records?page=2", "/../x", "?page=2", "#x", "/%2e%2e/", "/é"]),
).map("".join)
links = st.one_of(link_parts, st.text(max_size=40), st.just(f"{BASE}/records?page=2"))


def assert_same_origin(url: str) -> None:
    """Where aiohttp would really send ``url`` (yarl's reading) is the base origin."""
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return  # aiohttp refuses it too (InvalidURL): nothing is sent
    assert (parsed.scheme, parsed.host, parsed.port) == ORIGIN, url
    assert parsed.user is None, url
    assert parsed.password is None, url
    assert "\\" not in (parsed.raw_host or "")


@fuzz
@given(links)
def test_a_resolved_link_is_on_the_base_origin_for_both_parsers(link: str) -> None:
    try:
        url = resolve_link(CURRENT, link, BASE)
    except AccuticsError:
        return
    assert_same_origin(url)


@fuzz
@given(links)
def test_an_absolute_path_is_on_the_base_origin_for_both_parsers(path: str) -> None:
    try:
        url = build_url(BASE, path)
    except AccuticsError:
        return
    assert_same_origin(url)


@fuzz
@given(paginations, st.one_of(st.none(), st.integers(1, 5)))
def test_next_request_is_same_origin_or_our_error(raw: dict[str, Any], number: int | None) -> None:
    try:
        meta = structure_meta({"pagination": raw})
    except (TypeError, ValueError):
        assume(False)  # decode_response turns this into DecodeError(bad_meta)
        return
    try:
        following = next_request(PageRequest(CURRENT, number), meta, BASE)
    except AccuticsError:
        return
    assert following is None or isinstance(following, PageRequest)
    if following is not None:
        assert_same_origin(following.url)


# -- the corpus -----------------------------------------------------------------------


def _corpus(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


def test_the_fuzz_corpus_is_there() -> None:
    assert all(_corpus(kind) for kind in ("envelope", "search", "link"))


@pytest.mark.parametrize("path", _corpus("envelope"), ids=lambda p: p.name)
def test_the_fuzz_corpus_replays_cleanly_envelope(path: Path) -> None:
    body = path.read_bytes()
    for status in (200, 500):
        try:
            resp = decode_response(status, {}, body, url=BASE)
        except AccuticsError:
            continue
        assert resp.data == orjson.loads(body)["data"]


@pytest.mark.parametrize("path", _corpus("search"), ids=lambda p: p.name)
def test_the_fuzz_corpus_replays_cleanly_search(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        search = Search.parse(text)
    except SearchSyntaxError:
        return
    assert Search.parse(str(search)) == search


@pytest.mark.parametrize("path", _corpus("link"), ids=lambda p: p.name)
def test_the_fuzz_corpus_replays_cleanly_link(path: Path) -> None:
    link = path.read_bytes().decode("utf-8", errors="replace")
    for resolve in (lambda: resolve_link(CURRENT, link, BASE), lambda: build_url(BASE, link)):
        try:
            url = resolve()
        except AccuticsError:
            continue
        assert_same_origin(url)
