"""ISO 8601 timestamps and dates, read the same way on every supported Python.

``datetime.fromisoformat`` grew from Python 3.10 to 3.11: 3.11 reads ``Z``,
week dates, basic (no separator) forms and any number of fraction digits, 3.10
none of them. Decoding a record must not depend on the interpreter, so the
accepted language is fixed here: the extended form the API writes
(``2024-03-05T10:11:12Z``), with ``T``, ``t`` or a space between date and
time, seconds optional, an optional fraction after ``.`` or ``,`` (1 to 9
digits, cut to microseconds) and an optional ``Z``/``z`` or ``+HH:MM``/
``+HHMM`` offset. A date alone is not a timestamp. The API's own shape takes
a fast path through the C parser.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

__all__ = ["api_shapes", "from_api_shape", "is_api_shape", "parse_date", "parse_datetime"]

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)", re.ASCII)
_MIDNIGHT_UTC = re.compile(
    r"(\d{4}-\d\d-\d\d)T00:00(?::00(?:\.0{1,9})?)?(?:Z|[+-]00:?00)", re.ASCII
)

_FROMISO_TAKES_Z = sys.version_info >= (3, 11)


def _from_api_shape_310(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00")


#: Read a timestamp of the API's own shape (one that :func:`is_api_shape`
#: accepts or :func:`api_shapes` matches): the C parser itself on 3.11+,
#: where it takes the ``Z``; on 3.10 with ``Z`` spelled ``+00:00``.
from_api_shape: Callable[[str], datetime] = (
    datetime.fromisoformat if _FROMISO_TAKES_Z else _from_api_shape_310
)


def is_api_shape(text: str) -> bool:
    """Whether ``text`` is ``YYYY-MM-DDTHH:MM:SSZ`` with its separators where they belong.

    For this shape every Python's ``fromisoformat`` agrees with the full
    grammar above, so :func:`from_api_shape` reads it.
    """
    # text[4::3] of a 20-character string is the characters at 4, 7, 10, 13,
    # 16 and 19: the separators, tested in one C comparison instead of six.
    # The year is tested too: a sign or a space there is not this shape.
    return text[4::3] == "--T::Z" and len(text) == 20 and text[:4].isdigit()


@functools.cache
def api_shapes(count: int) -> Callable[[str], object]:
    """A test for ``count`` API-shape timestamps written one after the other.

    Truthy only for a string that is ``count`` pieces each accepted by
    :func:`is_api_shape` (with an ASCII year): one C call checks every
    timestamp of a record at once. The digits after the year are left to
    the parser, which refuses anything else, as it does for one timestamp.
    """
    one = r"[0-9]{4}-..-..T..:..:..Z"
    return re.compile(f"(?:{one}){{{count}}}", re.ASCII | re.DOTALL).fullmatch


def parse_datetime(text: str) -> datetime:
    """Read an ISO 8601 timestamp; ``ValueError`` if it is not one.

    Naive without an offset, UTC for ``Z``; sub-microsecond digits are dropped.
    """
    if text[4::3] == "--T::Z" and len(text) == 20 and text[:4].isdigit():  # is_api_shape
        return from_api_shape(text)
    return _parse_any(text)


def _parse_any(text: str) -> datetime:
    # The whole grammar above (the API's shape included: the tests hold the
    # C parser's reading of that shape to this one).
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz: timezone | None = None
    if zulu:
        tz = timezone.utc
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24) or int(off_m) >= 60:
            raise ValueError(f"UTC offset out of range in {text[:40]!r}")
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
        tz,
    )


def parse_date(text: str) -> date:
    """Read ``YYYY-MM-DD``, or a UTC midnight timestamp (how the API sends dates).

    Any other time of day is refused: turning it into a date would lose it.
    """
    midnight = _MIDNIGHT_UTC.fullmatch(text)
    match = _DATE.fullmatch(midnight.group(1) if midnight else text)
    if match is None:
        raise ValueError(f"not an ISO 8601 date: {text[:40]!r}")
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
