"""Shard specs and how a query is cut into ``created_at`` ranges.

A :class:`ShardSpec` is plain data (``to_dict``/``from_dict`` round trip
through JSON), so a shard can be handed to any task runner; see
``export._shards`` for running and merging them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from .._pagination import AsyncPager
from .._sansio.converter import parse_datetime
from .._sansio.protocol import Params
from .._sansio.query import Query
from .._sansio.search import F, Filter, Search
from .._sansio.sort import format_sort, parse_sort
from .._source import PageSource
from ..errors import ExportError
from ._formats import FORMATS
from ._types import ExportFormat, resolve_format

if TYPE_CHECKING:
    from .._client import AccuticsClient

__all__ = ["ShardSpec", "check_shard_sort", "plan_created_at_shards", "plan_shards"]


def _optional(kind: type) -> Any:
    return attrs.validators.optional(attrs.validators.instance_of(kind))


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in value)


@attrs.frozen(kw_only=True)
class ShardSpec:
    """One shard of an export: a query and the file it goes to. Plain data.

    ``search`` and ``sort`` are wire strings (``str(Search)``), ``params``
    extra query pairs; ``index`` is the shard's place in the merged file
    (0-based) and ``count`` how many shards the plan has.
    ``ShardSpec.from_dict(spec.to_dict()) == spec``, and ``to_dict()`` is
    JSON-serialisable.
    """

    path: str = attrs.field(validator=attrs.validators.instance_of(str))
    out: str = attrs.field(validator=attrs.validators.instance_of(str))
    search: str | None = attrs.field(default=None, validator=_optional(str))
    sort: str | None = attrs.field(default=None, validator=_optional(str))
    page_size: int | None = attrs.field(default=None, validator=_optional(int))
    format: str = attrs.field(default="jsonl", validator=attrs.validators.in_(FORMATS))
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    concurrency: int = attrs.field(default=1, validator=attrs.validators.instance_of(int))
    index: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    count: int = attrs.field(default=1, validator=attrs.validators.instance_of(int))

    @property
    def query(self) -> Query:
        """The shard's listing request (its ``search`` holds the shard's range)."""
        return Query.of(
            self.path,
            params=self.params,
            search=self.search,
            sort=self.sort,
            page_size=self.page_size,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``params`` as a list of ``[name, value]`` pairs)."""
        data = attrs.asdict(self)
        data["params"] = [list(pair) for pair in self.params]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardSpec:
        """Rebuild a spec from :meth:`to_dict`'s output; ``ExportError`` if it does not fit."""
        names = {field.name for field in attrs.fields(cls)}
        if not isinstance(data, Mapping) or not set(data) <= names:
            extra = sorted(set(data) - names) if isinstance(data, Mapping) else data
            raise ExportError(f"not a shard spec (unknown keys {extra!r})")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"not a valid shard spec: {exc}") from exc


def _timestamp(record: Any, field: str) -> int:
    value = record.get(field) if isinstance(record, Mapping) else None
    try:
        when = parse_datetime(value)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"cannot shard on {field!r}: {value!r} is not an ISO timestamp") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() // 1)  # whole seconds: the API strips fractions in filters


def check_shard_sort(sort: str | Sequence[str] | None, field: str) -> str:
    """The sort of a sharded export (default ``field``); ``ExportError`` if shards cannot keep it.

    Shards are ``field`` ranges merged one after another, so the merged file
    is in the order of one unsharded export only when the sort's first key
    is ``field`` (ascending or descending). Merging by any other key would
    have to reproduce the server's order of ties, which the API does not
    document; so such a sort is refused rather than silently changed.
    """
    sort_text = format_sort(sort) or field
    first = parse_sort(sort_text)[0]
    if first.field != field:
        raise ExportError(
            f"a sharded export is cut into {field} ranges and merged in {field} order, so it "
            f"cannot keep the sort {sort_text!r} (first key {first.field!r}): sort by {field} "
            f"or -{field} first, or export without shards"
        )
    return sort_text


async def _edge(client: PageSource, query: Query, search: Search, sort: str) -> Any:
    edge = Query.of(query.path, params=query.params, search=search, sort=sort, page_size=1)
    pager: AsyncPager[Any] = AsyncPager(client, edge)
    page = await pager.first_page()
    return page.items[0] if page.items else None


async def plan_created_at_shards(
    client: AccuticsClient,
    path: str,
    shards: int,
    *,
    out: str | os.PathLike[str],
    search: Search | Filter | str | None = None,
    sort: str | Sequence[str] | None = None,
    page_size: int | None = None,
    params: Params | None = None,
    format: ExportFormat | str | None = None,
    concurrency: int = 1,
    field: str = "created_at",
) -> list[ShardSpec]:
    """Split the query into up to ``shards`` disjoint ``field`` ranges, in merge order.

    Two requests find the oldest and newest record (``sort=field`` and
    ``-field``, one item each); the span between is cut into equal
    half-open intervals of whole seconds, ``field >= a`` and ``field < b``,
    added to ``search``. The first shard has no lower bound and the last no
    upper bound, so no record is outside every shard. Fewer shards come back
    when the span has fewer seconds, one when the query matches nothing.

    ``sort`` defaults to ``field``; if it starts with ``-field`` the shards
    are listed newest first, so the merged file is in the order of one
    unsharded export. A sort whose first key is another field raises
    ``ExportError`` before any request (:func:`check_shard_sort`).
    ``format`` defaults to the suffix of ``out``. Raises ``ExportError`` if
    ``field`` does not hold ISO timestamps, ``SearchSyntaxError`` for a bad
    search or sort.
    """
    query = Query.of(path, params=params, search=search, sort=sort, page_size=page_size)
    return await plan_shards(
        client,
        query,
        shards,
        out=out,
        format=resolve_format(out, format),
        concurrency=concurrency,
        field=field,
    )


async def plan_shards(
    client: PageSource,
    query: Query,
    shards: int,
    *,
    out: str | os.PathLike[str],
    format: str,
    concurrency: int,
    field: str,
) -> list[ShardSpec]:
    """:func:`plan_created_at_shards` of one :class:`Query`, whose format is known."""
    if not isinstance(shards, int) or shards < 1:
        raise ExportError(f"shards must be an int >= 1, got {shards!r}")
    path = query.path
    if not isinstance(path, str):  # a shard spec is plain JSON data
        raise ExportError(f"a sharded export's path must be a str, got {path!r}")
    base = Search.parse(query.search or "")
    sort_text = check_shard_sort(query.sort, field)
    oldest = await _edge(client, query, base, field)
    newest = await _edge(client, query, base, f"-{field}")
    descending = parse_sort(sort_text)[0].descending
    target = os.fspath(out)
    ranges = _ranges(oldest, newest, shards, field, descending=descending)
    specs = []
    for index, (start, stop) in enumerate(ranges):
        specs.append(
            ShardSpec(
                path=path,
                out=f"{target}.shard-{index + 1:03d}-of-{len(ranges):03d}",
                search=str(_within(base, field, start, stop)) or None,
                sort=sort_text,
                page_size=query.page_size,
                format=format,
                params=query.params,
                concurrency=concurrency,
                index=index,
                count=len(ranges),
            )
        )
    return specs


def _ranges(
    oldest: Any, newest: Any, shards: int, field: str, *, descending: bool
) -> list[tuple[int | None, int | None]]:
    """Up to ``shards`` half-open ranges of whole seconds covering every record, in merge order.

    The first range has no lower bound and the last no upper bound, so no
    record is outside every range.
    """
    ranges: list[tuple[int | None, int | None]] = [(None, None)]
    if oldest is not None and newest is not None:
        low, high = _timestamp(oldest, field), _timestamp(newest, field) + 1
        count = max(1, min(shards, high - low))
        cuts = [low + (high - low) * i // count for i in range(count + 1)]
        ranges = [
            (cuts[i] if i > 0 else None, cuts[i + 1] if i < count - 1 else None)
            for i in range(count)
        ]
    if descending:
        ranges.reverse()
    return ranges


def _within(base: Search, field: str, start: int | None, stop: int | None) -> Search:
    shard = base
    if start is not None:
        shard &= F(field).gte(datetime.fromtimestamp(start, timezone.utc))
    if stop is not None:
        shard &= F(field).lt(datetime.fromtimestamp(stop, timezone.utc))
    return shard
