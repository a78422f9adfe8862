"""The fake server's record schema: every field, its kind, and what a kind allows.

Decisions live in tables here so that the generator, the search evaluator, the
sort and the write validation all agree. API_BASICS.md names no fields; these
mirror what its search table mentions (ids, timestamps, authors and updaters,
submissions, text/select/multi-select/date inputs, UTM outputs, match status).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = [
    "FIELDS",
    "MARKETS",
    "MATCH_STATUSES",
    "MEDIUMS",
    "OPERATORS_BY_KIND",
    "REQUIRED_ON_CREATE",
    "SEGMENTS",
    "SELECT_OPTIONS",
    "SOURCES_BY_MEDIUM",
    "STATUS_MEMBERS",
    "TAGS",
    "WRITABLE_FIELDS",
    "Kind",
]

Kind: TypeAlias = Literal[
    "id", "timestamp", "user", "text", "select", "multiselect", "date", "number", "status"
]

# Every field a record may carry, in the order records are serialised. A
# record never has a field outside this table, so it is also the list of
# known search dimensions and sort fields.
FIELDS: dict[str, Kind] = {
    "id": "id",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "author": "user",
    "updater": "user",
    "submission": "text",
    "match_status": "status",
    "input_campaign_name": "text",
    "input_medium": "select",
    "input_source": "select",
    "input_market": "select",
    "input_segment": "select",
    "input_tags": "multiselect",
    "input_start_date": "date",
    "input_end_date": "date",
    "input_budget": "number",
    "input_content": "text",
    "output_utm_campaign": "text",
    "output_utm_source": "text",
    "output_utm_medium": "text",
    "output_utm_content": "text",
    "output_url": "text",
}

INPUT_FIELDS = tuple(name for name in FIELDS if name.startswith("input_"))
# What create/update bodies may set. Everything else is maintained by the
# server: ids, timestamps, users, match status and the generated outputs.
WRITABLE_FIELDS = ("submission", *INPUT_FIELDS)
REQUIRED_ON_CREATE = ("input_campaign_name", "input_medium", "input_source")

_TEXT_OPS = frozenset({"eq", "neq", "contains", "beginswith", "endswith", "exists", "missing"})
_ORDERED_OPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "exists", "missing"})

# Which canonical operators each kind of dimension accepts; anything else is
# 422 invalid_search. API_BASICS.md: comparisons are for timestamps (and
# numbers), "hasall" is "multi-select only", "hasany"/"hasnone" work on
# multi-selects, single selects and match_status.
OPERATORS_BY_KIND: dict[Kind, frozenset[str]] = {
    "id": _TEXT_OPS,
    "text": _TEXT_OPS,
    "user": _TEXT_OPS,
    "select": _TEXT_OPS | {"hasany", "hasnone"},
    "multiselect": frozenset({"eq", "neq", "hasany", "hasall", "hasnone", "exists", "missing"}),
    "status": frozenset({"eq", "neq", "hasany", "hasnone", "exists", "missing"}),
    "timestamp": _ORDERED_OPS,
    "date": _ORDERED_OPS,
    "number": _ORDERED_OPS,
}

MEDIUMS = ("email", "paid_search", "social", "display", "affiliate")
SOURCES_BY_MEDIUM: dict[str, tuple[str, ...]] = {
    "email": ("newsletter", "crm", "mailchimp"),
    "paid_search": ("google", "bing"),
    "social": ("facebook", "instagram", "linkedin", "tiktok"),
    "display": ("google_display", "dv360", "criteo"),
    "affiliate": ("awin", "impact", "partnerize"),
}
SOURCES = tuple(source for sources in SOURCES_BY_MEDIUM.values() for source in sources)
MARKETS = ("us", "gb", "de", "dk", "fr", "se", "nl", "es")
SEGMENTS = ("new_customers", "returning", "vip", "lapsed")
TAGS = (
    "brand",
    "retargeting",
    "prospecting",
    "promo",
    "evergreen",
    "b2b",
    "b2c",
    "launch",
    "seasonal",
    "loyalty",
)

# The dataset keys a select (single or multi) may hold; writes are checked
# against them. Searching for another key is allowed and matches nothing.
SELECT_OPTIONS: dict[str, tuple[str, ...]] = {
    "input_medium": MEDIUMS,
    "input_source": SOURCES,
    "input_market": MARKETS,
    "input_segment": SEGMENTS,
    "input_tags": TAGS,
}

MATCH_STATUSES = ("unmatched", "matched", "synced", "out_of_sync", "outdated")

# What a match_status value in a filter stands for (eq/neq/hasany/hasnone).
# API_BASICS.md only says outdated and synced get "special handling"; ours:
#   matched      platform campaign found, not yet checked for sync
#   synced       found and equal to the record's outputs; as a filter it also
#                takes "matched" (matched and not outdated or out of sync)
#   out_of_sync  found, but the platform's values differ
#   outdated     the record was edited after its last check; as a filter it
#                also takes "out_of_sync" (the platform no longer reflects the
#                record, for either reason)
#   unmatched    no platform campaign found
# Editing a matched/synced/out_of_sync record through the API makes it
# "outdated", which is how the state arises.
STATUS_MEMBERS: dict[str, frozenset[str]] = {
    "unmatched": frozenset({"unmatched"}),
    "matched": frozenset({"matched"}),
    "synced": frozenset({"synced", "matched"}),
    "out_of_sync": frozenset({"out_of_sync"}),
    "outdated": frozenset({"outdated", "out_of_sync"}),
}
