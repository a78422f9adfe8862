"""Deterministic campaign-taxonomy records, generated on demand from (seed, index).

Record ``index`` of seed ``seed`` is a pure function of the two: nothing is
stored, so a dataset of a million records costs nothing until it is read.
One keyed BLAKE2b digest per record supplies every random choice.

Cost, measured on the development machine (CPython 3.11, one core):
``generate_record`` takes about 7.5 µs, so iterating
``generate_records(1_000_000)`` takes about 8 s (keeping them all as dicts
would take gigabytes; don't). A serialised record is 930 to 1,130 bytes of
JSON, about 1,060 on average. The fake server never generates the whole
dataset for paging in the default order or for ``created_at`` ranges: it
keeps only a list of record handles (about 8 MB per million; a server with
a million records starts in about 20 ms) and generates the records of a page
when the page is first asked for.

Shape of a record (see ``_schema.FIELDS`` for kinds):

- ``id``: a version-4-looking UUID, unique per (seed, index) and reversible
  (the server finds a record by id without an index of ids).
- ``created_at``: ISO 8601 Zulu without fraction, strictly increasing with the
  index (5 minutes apart, plus up to 4 minutes of jitter, from 2020-01-01), so
  ``created_at`` ranges make good shards. ``updated_at`` is up to 30 days
  later.
- ``author``/``updater``: ``{"id", "name", "email"}`` of one of 144 people.
- ``submission``: ``"Q1 2024 Spring Sale"`` (quarter and year of the start
  date, then the theme).
- ``match_status``: one of ``_schema.MATCH_STATUSES``.
- inputs: ``input_campaign_name`` (text), ``input_medium``/``input_source``/
  ``input_market`` (single selects), ``input_segment`` (single select; absent
  in about 15% of records and null in another 15%), ``input_tags``
  (multi-select, empty in about 10%), ``input_start_date`` (a day in
  2020-2025, as ISO Zulu midnight) and ``input_end_date`` (7 to 90 days
  later), ``input_budget`` (integer, 500 to 49,950),
  ``input_content`` (text, empty in about 10%).
- outputs, derived from the inputs by :func:`derive_outputs`:
  ``output_utm_campaign``, ``output_utm_source``, ``output_utm_medium``,
  ``output_utm_content``, ``output_url``.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from ._schema import MARKETS, MATCH_STATUSES, MEDIUMS, SEGMENTS, SOURCES_BY_MEDIUM, TAGS

__all__ = [
    "API_USER",
    "SPACING",
    "created_epoch",
    "derive_outputs",
    "generate_record",
    "generate_records",
    "index_for_id",
    "iso",
    "last_generated_epoch",
    "record_id",
]

BASE_EPOCH = calendar.timegm((2020, 1, 1, 0, 0, 0))
SPACING = 300  # seconds between consecutive records
_JITTER = 240  # < SPACING, so created_at stays strictly increasing
_DAY = 86_400
_MASK62 = (1 << 62) - 1

_FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Frederik", "Grace", "Henrik", "Ida", "Jonas",
          "Karen", "Lars")  # fmt: skip
_LAST = ("Andersen", "Brown", "Christensen", "Davis", "Eriksen", "Fischer", "Garcia", "Hansen",
         "Jensen", "Miller", "Nielsen", "Smith")  # fmt: skip
_THEMES = (
    "Spring Sale",
    "Summer Launch",
    "Back to School",
    "Black Friday",
    "Holiday Gifts",
    "New Year Kickoff",
    "Brand Awareness",
    "Product Launch",
    "Loyalty Rewards",
    "Clearance",
    "Webinar Series",
    "Free Shipping Week",
)
_PRODUCTS = (
    "Running Shoes",
    "Smart Watch",
    "Winter Jackets",
    "Headphones",
    "Coffee Maker",
    "Yoga Mats",
    "Backpacks",
    "Sunglasses",
)
_FORMATS = ("hero-image", "carousel", "video-15s", "text-ad", "story", "banner")
_UTM_MEDIUM = {
    "email": "email",
    "paid_search": "cpc",
    "social": "paid_social",
    "display": "display",
    "affiliate": "affiliate",
}
# Weighted pick of match_status: unmatched 30%, matched 25%, synced 20%,
# out_of_sync 15%, outdated 10%.
_STATUS_BY_PERCENT = tuple(
    status
    for status, share in zip(MATCH_STATUSES, (30, 25, 20, 15, 10), strict=True)
    for _ in range(share)
)


def _user(number: int) -> dict[str, str]:
    first, last = _FIRST[number % len(_FIRST)], _LAST[number // len(_FIRST) % len(_LAST)]
    digest = hashlib.blake2b(f"user:{number}".encode(), digest_size=16).hexdigest()
    return {
        "id": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}",
        "name": f"{first} {last}",
        "email": f"{first}.{last}@example.com".lower(),
    }


_USERS = tuple(_user(n) for n in range(len(_FIRST) * len(_LAST)))
#: The author/updater of records created or changed through the fake API.
API_USER: dict[str, str] = {
    "id": "00000000-0000-4000-8000-000000000001",
    "name": "API User",
    "email": "api-user@example.com",
}


@lru_cache(maxsize=64)
def _key(seed: int) -> bytes:
    # BLAKE2b keys are at most 64 bytes; hash the seed (of any size) into one.
    return hashlib.blake2b(b"accutics-fake:%d" % seed, digest_size=32).digest()


@lru_cache(maxsize=64)
def _seed_mask(seed: int) -> int:
    return int.from_bytes(_key(seed)[:8], "big") & _MASK62


def _digest(seed: int, index: int) -> bytes:
    # One 64-byte digest per record: bytes 0-7 start the id, the rest feed
    # the record's random choices.
    return hashlib.blake2b(index.to_bytes(8, "big"), key=_key(seed)).digest()


@lru_cache(maxsize=16_384)
def _day_text(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * _DAY))


def iso(epoch: int) -> str:
    """Return ``epoch`` (UTC seconds) as ISO 8601 Zulu without fraction."""
    day, second = divmod(epoch, _DAY)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day_text(day)}{hour:02d}:{minute:02d}:{second:02d}Z"


def created_epoch(seed: int, index: int) -> int:
    """Return the ``created_at`` of generated record ``index`` as UTC seconds."""
    # A cheap multiplicative hash, not the record digest, so that the server
    # can bisect on created_at without generating records.
    jitter = ((index * 2654435761) ^ (seed * 0x9E3779B1)) & 0xFFFFFFFF
    return BASE_EPOCH + index * SPACING + jitter % _JITTER


def last_generated_epoch(seed: int, count: int) -> int:
    """Return the latest timestamp (created or updated) among ``count`` generated records."""
    return created_epoch(seed, max(count - 1, 0)) + 31 * _DAY


def _mask(seed: int, head: int) -> int:
    return ((head * 0x9E3779B97F4A7C15) ^ _seed_mask(seed)) & _MASK62


def _format_id(seed: int, index: int, digest: bytes) -> str:
    head = int.from_bytes(digest[:8], "big")
    # Version 4 in the high nibble of byte 6, as in a random UUID.
    head = (head & ~(0xF << 12)) | (0x4 << 12)
    tail = (0b10 << 62) | (index ^ _mask(seed, head))
    text = f"{head:016x}{tail:016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def record_id(seed: int, index: int) -> str:
    """Return the UUID of record ``index`` for ``seed``; :func:`index_for_id` reverses it.

    The first 8 bytes come from the record's keyed hash; the last 8 are the
    index XOR a mask computed from the first 8, with the version and variant
    bits of a random (version 4) UUID set.
    """
    if not 0 <= index <= _MASK62:
        raise ValueError(f"record index out of range: {index}")
    return _format_id(seed, index, _digest(seed, index))


def index_for_id(seed: int, text: str) -> int | None:
    """Return the index whose :func:`record_id` is ``text`` for ``seed``, else ``None``."""
    hexed = text.replace("-", "")
    if len(text) != 36 or len(hexed) != 32:
        return None
    try:
        raw = bytes.fromhex(hexed)
    except ValueError:
        return None
    head = int.from_bytes(raw[:8], "big")
    index = (int.from_bytes(raw[8:], "big") & _MASK62) ^ _mask(seed, head)
    return index if record_id(seed, index) == text.lower() else None


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def derive_outputs(record: Mapping[str, Any]) -> dict[str, str]:
    """Return the ``output_*`` fields the taxonomy derives from ``record``'s inputs.

    Missing inputs give empty parts, never an error, so that any valid write
    produces outputs.
    """
    medium = record.get("input_medium") or ""
    source = record.get("input_source") or ""
    market = record.get("input_market") or "us"
    start = record.get("input_start_date") or ""
    campaign = f"{market}_{_slug(record.get('input_campaign_name') or '')}"
    if start:
        campaign += "_" + start[:4] + start[5:7]
    content = _slug(record.get("input_content") or "")
    utm_medium = _UTM_MEDIUM.get(medium, medium)
    url = (
        f"https://www.example-shop.com/{market}/landing?utm_source={source}"
        f"&utm_medium={utm_medium}&utm_campaign={campaign}"
    )
    if content:
        url += f"&utm_content={content}"
    return {
        "output_utm_campaign": campaign,
        "output_utm_source": source,
        "output_utm_medium": utm_medium,
        "output_utm_content": content,
        "output_url": url,
    }


def generate_record(seed: int, index: int) -> dict[str, Any]:
    """Return generated record ``index`` (0-based) for ``seed``; the same every call."""
    if not 0 <= index <= _MASK62:
        raise ValueError(f"record index out of range: {index}")
    d = _digest(seed, index)
    # Each choice reads its own bytes of the digest (a modulo bias of a few
    # percent at most is irrelevant for test data).
    created = created_epoch(seed, index)
    author = _USERS[int.from_bytes(d[8:10], "big") % len(_USERS)]
    updater = author if d[10] % 3 == 0 else _USERS[int.from_bytes(d[11:13], "big") % len(_USERS)]
    theme, product = _THEMES[d[13] % len(_THEMES)], _PRODUCTS[d[14] % len(_PRODUCTS)]
    medium = MEDIUMS[d[15] % len(MEDIUMS)]
    sources = SOURCES_BY_MEDIUM[medium]
    market = MARKETS[d[17] % len(MARKETS)]
    # Campaigns run any time in 2020-2025, independent of when they were entered.
    start_day = BASE_EPOCH // _DAY + int.from_bytes(d[34:36], "big") % (6 * 365)
    start_text = _day_text(start_day) + "00:00:00Z"
    # About 10% of records have no tags; the rest keep at most four.
    tag_bits = int.from_bytes(d[19:21], "big")
    tags = [] if d[21] % 10 == 0 else [t for n, t in enumerate(TAGS) if tag_bits >> n & 1][:4]
    record: dict[str, Any] = {
        "id": _format_id(seed, index, d),
        "created_at": iso(created),
        "updated_at": iso(created + int.from_bytes(d[22:25], "big") % (30 * _DAY)),
        "author": author,
        "updater": updater,
        "submission": f"Q{(int(start_text[5:7]) + 2) // 3} {start_text[:4]} {theme}",
        "match_status": _STATUS_BY_PERCENT[d[25] % 100],
        "input_campaign_name": f"{theme} {product} {market.upper()}",
        "input_medium": medium,
        "input_source": sources[d[16] % len(sources)],
        "input_market": market,
    }
    if d[26] % 100 >= 30:
        record["input_segment"] = SEGMENTS[d[27] % len(SEGMENTS)]
    elif d[26] % 100 >= 15:
        record["input_segment"] = None
    # else: absent, as when no value was ever stored for the input.
    record["input_tags"] = tags
    record["input_start_date"] = start_text
    record["input_end_date"] = _day_text(start_day + 7 + d[28] % 84) + "00:00:00Z"
    record["input_budget"] = 500 + 50 * (int.from_bytes(d[29:31], "big") % 990)
    record["input_content"] = (
        "" if d[31] % 10 == 0 else f"{_FORMATS[d[32] % len(_FORMATS)]}-v{1 + d[33] % 3}"
    )
    record.update(derive_outputs(record))
    return record


def generate_records(count: int, seed: int = 1, *, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield records ``start`` to ``start + count - 1`` for ``seed``, one at a time.

    Lazy: nothing is generated before it is asked for (see the module
    docstring for the cost).
    """
    for index in range(start, start + count):
        yield generate_record(seed, index)
