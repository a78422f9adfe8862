"""Timestamps and dates are read the same way on every supported Python.

CI runs this file on 3.10 to 3.13: 3.10's ``fromisoformat`` reads neither
``Z`` nor short fractions, 3.11's reads week dates and basic forms. Both are
pinned to one language here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accutics_async import DecodeError
from accutics_async._sansio import converter, isotime
from accutics_async._sansio.isotime import parse_date, parse_datetime
from accutics_async._sansio.structuring import structure_items

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T10:11:12Z", datetime(2024, 3, 5, 10, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12.5Z", datetime(2024, 3, 5, 10, 11, 12, 500000, tzinfo=UTC)),
        ("2024-03-05T10:11:12.123456789Z", datetime(2024, 3, 5, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2024-03-05T10:11:12,25z", datetime(2024, 3, 5, 10, 11, 12, 250000, tzinfo=UTC)),
        ("2024-03-05 10:11", datetime(2024, 3, 5, 10, 11)),
        (
            "2024-03-05T10:11:12-05:30",
            datetime(2024, 3, 5, 10, 11, 12, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-03-05T10:11:12+0100",
            datetime(2024, 3, 5, 10, 11, 12, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_timestamps_in_the_extended_form_are_read(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo == expected.tzinfo


@pytest.mark.parametrize(
    "text",
    [
        "2024-W10-2T10:11:12Z",  # week date: 3.11's fromisoformat reads it
        "20240305T101112Z",  # basic form: likewise
        "2024-03-05",  # a date is not a timestamp
        "2024-03-05T10",
        "2024-03-05T10:11:12ZZ",
        "+024-03-05T10:11:12Z",
        " 024-03-05T10:11:12Z",
        "2024-03-05T10:11:12+24:00",
        # Minutes of an offset are under 60: "+05:99" was read as +06:39.
        "2024-03-05T10:11:12+05:99",
        "2024-03-05T10:11:12-0060",
        "2024-13-05T10:11:12Z",
        "2024-02-30T10:11:12Z",
        "2024-03-05T10:11:12.Z",
        "\uff12\uff10\uff12\uff14-03-05T10:11:12Z",  # fullwidth digits
        "",
    ],
)
def test_other_spellings_are_refused_on_every_python(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_dates_are_plain_days_or_utc_midnights() -> None:
    assert parse_date("2024-03-05") == date(2024, 3, 5)
    assert parse_date("2024-03-05T00:00:00Z") == date(2024, 3, 5)  # how the API sends them
    for text in ("2024-03-05T12:00:00Z", "2024-03-05T00:00:00+02:00", "20240305", "2024-W10-2"):
        with pytest.raises(ValueError):
            parse_date(text)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    )
)
def test_every_utc_timestamp_round_trips_through_the_api_form(when: datetime) -> None:
    text = (
        when.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{when.microsecond:06d}" if when.microsecond else "")
        + "Z"
    )
    if when.year < 1000:
        text = f"{when.year:04d}" + text[len(str(when.year)) :]
    assert parse_datetime(text) == when


@attrs.frozen
class Campaign:
    starts: date
    ends: date | None
    seen: datetime


def test_a_model_reads_the_api_s_dates_and_names_a_bad_field() -> None:
    [campaign] = structure_items(
        [
            {
                "starts": "2024-03-05T00:00:00Z",
                "ends": "2024-04-01",
                "seen": "2024-03-05T10:11:12.5Z",
            }
        ],
        Campaign,
        "GET records",
    )
    assert campaign == Campaign(
        date(2024, 3, 5), date(2024, 4, 1), datetime(2024, 3, 5, 10, 11, 12, 500000, tzinfo=UTC)
    )
    bad = {"starts": "2024-03-05", "ends": None, "seen": "20240305T101112Z"}
    with pytest.raises(DecodeError, match=r"item 0 .*'seen'"):
        structure_items([bad], Campaign, "GET records")


# -- the fast paths: the API's own shape read by the C parser ---------------------


def api_shaped() -> st.SearchStrategy[str]:
    """Strings near ``YYYY-MM-DDTHH:MM:SSZ``: valid ones, and ones with a character changed."""
    valid = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda when: f"{when.year:04d}" + when.strftime("-%m-%dT%H:%M:%SZ")
    )
    odd = st.sampled_from("0123456789-:TtZz +.,\uff10\u0660W\x00")

    @st.composite
    def changed(draw: st.DrawFn) -> str:
        text = list(draw(valid))
        for _ in range(draw(st.integers(0, 3))):
            text[draw(st.integers(0, len(text) - 1))] = draw(odd)
        return "".join(text)

    return st.one_of(valid, changed(), st.text(odd, min_size=18, max_size=22))


def read(parse: Any, text: Any) -> Any:
    try:
        value = parse(text)
    except ValueError:
        return "ValueError"
    return (value, value.tzinfo)


@given(api_shaped())
def test_the_c_parser_reads_the_api_s_shape_as_the_grammar_does(text: str) -> None:
    # Whatever the fast path takes, the full grammar reads the same way, on
    # the Python running this test (CI runs it on 3.10 to 3.13).
    if isotime.is_api_shape(text):
        assert read(isotime.from_api_shape, text) == read(isotime._parse_any, text)
    assert read(parse_datetime, text) == read(isotime._parse_any, text)


@given(api_shaped())
def test_the_converter_hook_reads_what_isotime_reads(text: str) -> None:
    assert read(converter.parse_datetime, text) == read(parse_datetime, text)


@given(st.lists(api_shaped(), min_size=1, max_size=4))
def test_the_many_timestamp_test_takes_only_api_shapes(texts: list[str]) -> None:
    joined = "".join(texts)
    ascii_year = all(text[:4].isascii() for text in texts)
    if isotime.api_shapes(len(texts))(joined):
        pieces = [joined[i : i + 20] for i in range(0, len(joined), 20)]
        assert all(isotime.is_api_shape(piece) for piece in pieces)
    elif all(map(isotime.is_api_shape, texts)):
        assert not ascii_year


def test_a_timestamp_hook_value_of_another_type_is_a_type_error() -> None:
    for value in (5, None, ["2024-03-05T10:11:12Z"], b"2024-03-05T10:11:12Z"):
        with pytest.raises(TypeError):
            converter.parse_datetime(value)
