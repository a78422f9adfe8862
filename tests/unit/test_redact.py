"""The one redactor: every spelling of the token goes, nothing else changes."""

from __future__ import annotations

import re
import traceback
from urllib.parse import unquote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from accutics_async._sansio.redact import REDACTED, Redactor, SecretHeaders, drop_frames

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcGktdXNlci0xNyJ9.c2VjcmV0LXNpZ25hdHVyZQ"
R = Redactor(TOKEN)


def decoded(text: str) -> str:
    for _ in range(3):
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)
        text = unquote(text)
    return text


def _case(digits: str, upper: bool) -> str:
    return digits.upper() if upper else digits


# One character of the token, spelled in one of the ways a server can hand it back.
SPELLINGS = (
    lambda c, up: c,
    lambda c, up: "".join("%" + _case(f"{b:02x}", up) for b in c.encode()),
    lambda c, up: "".join("%25" + _case(f"{b:02x}", up) for b in c.encode()),  # encoded twice
    lambda c, up: "\\u" + _case(f"{ord(c):04x}", up),
    lambda c, up: "".join("\\u0025" + _case(f"{b:02x}", up) for b in c.encode()),
)


@st.composite
def disguised(draw: st.DrawFn) -> str:
    size = len(TOKEN)
    picks = draw(
        st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=size, max_size=size)
    )
    return "".join(SPELLINGS[i](c, up) for c, (i, up) in zip(TOKEN, picks, strict=True))


# Text around the token: JSON and URL punctuation, escapes of other characters.
# Whole escapes only: "%9" before "e..." would decode to another character, not the token.
PIECES = [*' {}":,/?&=xZ9', "%20", "%2e", "\\u00f8", "\\u002E", "\\n"]
filler = st.lists(st.sampled_from(PIECES)).map("".join)


@given(before=filler, spelling=disguised(), after=filler)
def test_every_spelling_is_redacted_in_text_and_bytes(
    before: str, spelling: str, after: str
) -> None:
    text = before + spelling + after
    assert TOKEN in decoded(text)  # the control: this does spell the token
    assert TOKEN not in decoded(R.text(text))
    assert REDACTED in R.text(text)
    assert TOKEN not in decoded(R.bytes(text.encode()).decode())


@given(text=filler)
def test_text_without_the_token_is_left_exactly_as_it_was(text: str) -> None:
    assert TOKEN not in decoded(text)
    assert R.text(text) == text
    assert R.bytes(text.encode()) == text.encode()


def test_a_redacted_body_is_still_the_same_json_apart_from_the_token() -> None:
    escaped = "".join(f"\\u{ord(c):04X}" for c in TOKEN)
    body = ('{"data": [{"id": 1, "note": "' + escaped + '", "city": "K\\u00f8benhavn"}]}').encode()
    assert orjson.loads(R.bytes(body)) == {
        "data": [{"id": 1, "note": REDACTED, "city": "København"}]
    }


def test_a_short_stub_token_redacts_nothing() -> None:
    stub = Redactor("abc")
    assert stub.text("abc %61bc") == "abc %61bc"
    assert not stub.active
    assert "abc" not in repr(stub)
    assert TOKEN not in repr(R)


def test_headers_are_copied_only_when_they_hold_the_token() -> None:
    clean = CIMultiDictProxy(CIMultiDict({"Location": "/next?page=2"}))
    assert R.headers(clean) is clean
    dirty = CIMultiDictProxy(CIMultiDict({"Location": f"/next?t={TOKEN}", "X-Other": "1"}))
    redacted = R.headers(dirty)
    assert redacted["location"] == f"/next?t={REDACTED}"
    assert redacted["X-Other"] == "1"


def test_exceptions_are_redacted_down_the_whole_chain() -> None:
    def fail() -> None:
        try:
            try:
                raise ValueError(f"inner {TOKEN}")
            except ValueError as exc:
                raise KeyError("%".join(["", *(f"{b:02x}" for b in TOKEN.encode())])) from exc
        except KeyError:
            error = RuntimeError("outer")
            error.__notes__ = [f"note \\u{ord(TOKEN[0]):04x}{TOKEN[1:]}"]  # add_note() on 3.11+
            error.detail = TOKEN  # type: ignore[attr-defined]
            raise error from None

    with pytest.raises(RuntimeError) as info:
        fail()
    R.exception(info.value)
    shown = "".join(traceback.format_exception(info.value))
    everything = [shown]
    item: BaseException | None = info.value
    while item is not None:  # the suppressed context too, which the traceback hides
        everything += [repr(item), repr(vars(item))]
        item = item.__cause__ or item.__context__
    assert all(TOKEN not in decoded(text) for text in everything)
    assert REDACTED in shown


def test_secret_headers_hide_the_authorization_value_from_repr_but_not_from_use() -> None:
    headers = SecretHeaders({"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"})
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(headers.with_extra({"X-Trace": "1"})) == {**headers, "X-Trace": "1"}
    assert TOKEN not in repr(headers)
    assert TOKEN not in str(headers)
    assert "application/json" in repr(headers)
    rich_pretty = pytest.importorskip("rich.pretty")
    assert TOKEN not in rich_pretty.pretty_repr(headers)
    assert TOKEN not in rich_pretty.pretty_repr({"headers": headers})


def test_drop_frames_clears_every_traceback_in_the_chain() -> None:
    def inner(headers: dict[str, str]) -> None:
        raise OSError("boom")

    try:
        try:
            inner({"Authorization": f"Bearer {TOKEN}"})
        except OSError as exc:
            raise ConnectionError("reset") from exc
    except ConnectionError as exc:
        error = drop_frames(exc)
    assert error.__traceback__ is None
    assert error.__cause__ is not None
    assert error.__cause__.__traceback__ is None
    shown = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    assert "reset" in shown
    assert "boom" in shown
    assert TOKEN not in shown
