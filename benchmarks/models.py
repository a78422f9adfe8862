"""The attrs classes a user would write for the records, for the typed benchmarks.

One per record shape (see ``shapes``): ``UserRecord`` for ``nested``,
``FlatRecord`` for ``flat``.

``UserRecord`` types every one of the 22 fields the way someone reading the
API's JSON would: timestamps and the input dates as ``datetime``, the
author/updater as a nested ``Person``, ``input_segment`` optional (it is null
or absent in some records), tags as ``list[str]``, the budget as ``int``.
It is what the hand-written cattrs loop structures, and what
``paginate(model=UserRecord)`` structures through the library's converter.
``FlatRecord`` types the 26 scalar fields of the flat shape the same way.
"""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen
class Person:
    id: str
    name: str
    email: str


@attrs.frozen
class UserRecord:
    id: str
    created_at: datetime
    updated_at: datetime
    author: Person
    updater: Person
    submission: str
    match_status: str
    input_campaign_name: str
    input_medium: str
    input_source: str
    input_market: str
    input_tags: list[str]
    input_start_date: datetime
    input_end_date: datetime
    input_budget: int
    input_content: str
    output_utm_campaign: str
    output_utm_source: str
    output_utm_medium: str
    output_utm_content: str
    output_url: str
    input_segment: str | None = None


@attrs.frozen
class FlatRecord:
    id: str
    created_at: datetime
    updated_at: datetime
    author_id: str
    author_name: str
    author_email: str
    updater_id: str
    updater_name: str
    updater_email: str
    submission: str
    match_status: str
    input_campaign_name: str
    input_medium: str
    input_source: str
    input_market: str
    input_segment: str | None
    input_tags: str
    input_start_date: datetime
    input_end_date: datetime
    input_budget: int
    input_content: str
    output_utm_campaign: str
    output_utm_source: str
    output_utm_medium: str
    output_utm_content: str
    output_url: str


MODELS: dict[str, type[UserRecord] | type[FlatRecord]] = {
    "nested": UserRecord,
    "flat": FlatRecord,
}
