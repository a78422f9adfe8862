"""The fake server's dataset: generated records, in default order, plus changes.

A record is known by a *handle*, the generator index it came from: handles
``0..count-1`` are the generated records, later ones were inserted or
created. Only changed or new records are kept in memory; the rest are
regenerated on demand. ``order`` lists the live handles in the default order,
``created_at`` then ``id``, an invariant every mutation keeps, so a
``created_at`` range is a slice found by bisection.

Query results (the ordered handles for one ``search`` and ``sort``) are
cached in a small LRU; any mutation bumps :attr:`Dataset.version` and
empties it.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._data import (
    API_USER,
    SPACING,
    created_epoch,
    derive_outputs,
    generate_record,
    index_for_id,
    iso,
    last_generated_epoch,
    record_id,
)
from ._query import (
    DEFAULT_SORT,
    CompiledFilter,
    QueryError,
    SortSpec,
    compare_keys,
    compile_search,
    compile_sort,
    normalise_timestamp,
    record_key,
    sort_item,
    sort_items,
    timestamp_epoch,
)
from ._schema import FIELDS, REQUIRED_ON_CREATE, SELECT_OPTIONS, WRITABLE_FIELDS

__all__ = ["Dataset"]

_QUERY_CACHE_SIZE = 16
_RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})
_ONCE_MATCHED = frozenset({"matched", "synced", "out_of_sync"})


class Dataset:
    """Records for ``seed``, starting with ``count`` generated ones."""

    def __init__(self, count: int, seed: int) -> None:
        if count < 0:
            raise ValueError(f"records must be >= 0, got {count}")
        self.seed = seed
        self.version = 0
        self.order: list[int] = list(range(count))
        self._next_handle = count
        self._changed: dict[int, dict[str, Any]] = {}
        self._created: dict[int, int] = {}  # created_at of inserted/created handles
        self._deleted: set[int] = set()
        self._clock = last_generated_epoch(seed, count)
        # Stamps for writes: None keeps the logical clock (one second after
        # the previous write); a callable (a FakeClock) lets tests choose.
        self.clock: Callable[[], int] | None = None
        self._queries: OrderedDict[tuple[str, str], tuple[list[int], SortSpec]] = OrderedDict()

    @property
    def next_handle(self) -> int:
        """The handle the next inserted or created record gets."""
        return self._next_handle

    def __len__(self) -> int:
        return len(self.order)

    def record(self, handle: int) -> dict[str, Any]:
        """Return the current record of ``handle`` (do not mutate it)."""
        changed = self._changed.get(handle)
        return changed if changed is not None else generate_record(self.seed, handle)

    def created_epoch(self, handle: int) -> int:
        """Return the ``created_at`` of ``handle`` as UTC seconds."""
        created = self._created.get(handle)
        return created if created is not None else created_epoch(self.seed, handle)

    def _order_key(self, handle: int) -> tuple[int, str]:
        return self.created_epoch(handle), record_id(self.seed, handle)

    def find(self, record_id_text: str) -> int | None:
        """Return the handle of the live record with this id, or ``None``."""
        handle = index_for_id(self.seed, record_id_text)
        if handle is None or handle >= self._next_handle or handle in self._deleted:
            return None
        return handle

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield every record in the default order."""
        return (self.record(handle) for handle in list(self.order))

    # -- queries -------------------------------------------------------------

    def query(self, search: str, sort: str) -> tuple[list[int], SortSpec]:
        """Return the handles matching ``search`` in ``sort`` order, and the sort.

        Raises :class:`QueryError` for a bad search or sort. Cached until the
        next mutation; callers must not modify the returned list.
        """
        key = (search, sort)
        cached = self._queries.get(key)
        if cached is not None:
            self._queries.move_to_end(key)
            return cached
        filters = compile_search(search) if search else ()
        spec = compile_sort(sort)
        handles = self._by_created_range(filters, spec)
        if handles is None:
            handles = self._scan(filters, spec)
        self._queries[key] = (handles, spec)
        if len(self._queries) > _QUERY_CACHE_SIZE:
            self._queries.popitem(last=False)
        return handles, spec

    def _by_created_range(
        self, filters: tuple[CompiledFilter, ...], spec: SortSpec
    ) -> list[int] | None:
        # Fast path (no record generated): only created_at comparisons, sorted
        # by created_at. The default order is sorted by created_at, so the
        # answer is one slice of it.
        if spec.keys not in (DEFAULT_SORT.keys, (("created_at", True),)):
            return None
        if any(f.field != "created_at" or f.operator not in _RANGE_OPS for f in filters):
            return None
        low, high = 0, len(self.order)
        for item in filters:
            bound = timestamp_epoch(item.values[0])
            if item.operator in ("gt", "lte"):
                edge = bisect.bisect_right(self.order, bound, key=self.created_epoch)
            else:
                edge = bisect.bisect_left(self.order, bound, key=self.created_epoch)
            if item.operator in ("gt", "gte"):
                low = max(low, edge)
            else:
                high = min(high, edge)
        handles = self.order[low:high] if low < high else []
        if spec.keys[0][1]:
            # Newest first; stable, so equal created_at stay in id order.
            handles.sort(key=self.created_epoch, reverse=True)
        return handles

    def _scan(self, filters: tuple[CompiledFilter, ...], spec: SortSpec) -> list[int]:
        tests = [f.predicate for f in filters]
        if spec == DEFAULT_SORT:
            # The default order needs no sorting; keep only the handles.
            return [h for h in self.order if all(test(self.record(h)) for test in tests)]
        items = []
        for handle in self.order:
            record = self.record(handle)
            if all(test(record) for test in tests):
                items.append(sort_item(spec, handle, record))
        sort_items(spec, items)
        return [item[0] for item in items]

    def position_after(self, handles: list[int], spec: SortSpec, key: Any) -> int:
        """Return the index of the first handle sorting strictly after record ``key``.

        ``key`` is a decoded cursor; the search is a bisection, so records
        inserted or deleted since the cursor was made neither shift nor
        repeat the remaining ones.
        """
        low, high = 0, len(handles)
        while low < high:
            middle = (low + high) // 2
            if compare_keys(spec, record_key(spec, self.record(handles[middle])), key) <= 0:
                low = middle + 1
            else:
                high = middle
        return low

    # -- mutations -----------------------------------------------------------

    def _changed_now(self) -> None:
        self.version += 1
        self._queries.clear()

    def _tick(self) -> int:
        if self.clock is not None:
            return self.clock()
        self._clock += 1
        return self._clock

    @property
    def logical_now(self) -> int:
        """The logical clock: the latest stamp it gave (after every generated timestamp)."""
        return self._clock

    def insert(self, count: int, at: int | None = None) -> list[dict[str, Any]]:
        """Insert ``count`` generated records at position ``at`` of the default order.

        ``at=None`` appends after the newest record; ``at=0`` puts them before
        the oldest. Their ``created_at`` falls between the neighbours', so
        the default order stays sorted by ``created_at``. Returns the new
        records. Raises ``ValueError`` for a bad position, or if the
        neighbours at ``at`` are less than 2 seconds apart.
        """
        size = len(self.order)
        at = size if at is None else at
        if not 0 <= at <= size:
            raise ValueError(f"at must be between 0 and {size}, got {at}")
        if count <= 0:
            return []
        if size == 0:
            times = [self._clock + SPACING * (k + 1) for k in range(count)]
        elif at == size:
            last = self.created_epoch(self.order[-1])
            times = [last + SPACING * (k + 1) for k in range(count)]
        elif at == 0:
            first = self.created_epoch(self.order[0])
            times = [first - SPACING * (count - k) for k in range(count)]
        else:
            before = self.created_epoch(self.order[at - 1])
            room = self.created_epoch(self.order[at]) - before - 1
            if room < 1:
                raise ValueError(f"no free second between the records at {at - 1} and {at}")
            times = [before + 1 + k * room // count for k in range(count)]
        handles = []
        for when in times:
            handle = self._next_handle
            self._next_handle += 1
            record = generate_record(self.seed, handle)
            record["created_at"] = record["updated_at"] = iso(when)
            self._changed[handle] = record
            self._created[handle] = when
            handles.append(handle)
        handles.sort(key=self._order_key)
        self.order[at:at] = handles
        self._clock = max(self._clock, times[-1])
        self._changed_now()
        return [self._changed[h] for h in handles]

    def create(self, body: object, *, stamp: int | None = None) -> dict[str, Any]:
        """Add a record from a create body (see :func:`validate_body`) and return it.

        ``stamp`` (UTC seconds) is its ``created_at``/``updated_at``; default: the clock.
        """
        fields = validate_body(body, partial=False)
        handle = self._next_handle
        self._next_handle += 1
        when = self._tick() if stamp is None else stamp
        record: dict[str, Any] = {
            "id": record_id(self.seed, handle),
            "created_at": iso(when),
            "updated_at": iso(when),
            "author": API_USER,
            "updater": API_USER,
            "submission": "",
            "match_status": "unmatched",
        }
        record.update(fields)
        self._changed[handle] = _in_field_order(record)
        self._created[handle] = when
        # Newest (so last in the default order) unless a test clock or
        # ``stamp`` dates it earlier: then it goes where created_at puts it.
        bisect.insort(self.order, handle, key=self._order_key)
        self._changed_now()
        return self._changed[handle]

    def update(
        self, handle: int, body: object, *, partial: bool, stamp: int | None = None
    ) -> dict[str, Any]:
        """Change a record from an update body and return it.

        ``partial`` (PATCH) changes only the given fields; otherwise (PUT)
        writable fields missing from the body are removed. Editing a record
        that was matched makes its ``match_status`` ``outdated``. ``stamp``
        (UTC seconds) is the new ``updated_at``; default: the clock.
        """
        fields = validate_body(body, partial=partial)
        old = self.record(handle)
        record = (
            dict(old) if partial else {k: v for k, v in old.items() if k not in WRITABLE_FIELDS}
        )
        record.update(fields)
        record["updated_at"] = iso(self._tick() if stamp is None else stamp)
        record["updater"] = API_USER
        if old.get("match_status") in _ONCE_MATCHED:
            record["match_status"] = "outdated"
        self._changed[handle] = _in_field_order(record)
        self._changed_now()
        return self._changed[handle]

    def delete(self, handle: int) -> dict[str, Any]:
        """Remove a record and return it as it was."""
        record = self.record(handle)
        where = bisect.bisect_left(self.order, self._order_key(handle), key=self._order_key)
        del self.order[where]
        self._deleted.add(handle)
        self._changed.pop(handle, None)
        self._changed_now()
        return record


def _in_field_order(record: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: record[name] for name in FIELDS if name in record}
    out.update(derive_outputs(out))
    return out


# A field check returns the stored form of a value and an error message or
# ``None``; one per kind of writable field (see ``_schema.FIELDS``).
_Checked = tuple[object, str | None]


def _check_text(name: str, value: object) -> _Checked:
    ok = isinstance(value, str) and (value != "" or name not in REQUIRED_ON_CREATE)
    return value, None if ok else "must be a non-empty string"


def _check_select(name: str, value: object) -> _Checked:
    options = SELECT_OPTIONS[name]
    return value, None if value in options else f"must be one of {', '.join(options)}"


def _check_multiselect(name: str, value: object) -> _Checked:
    options = SELECT_OPTIONS[name]
    if not isinstance(value, list) or any(v not in options for v in value):
        return value, f"must be a list of {', '.join(options)}"
    return list(dict.fromkeys(value)), None  # a tag given twice is stored once


def _check_date(name: str, value: object) -> _Checked:
    normal = normalise_timestamp(value) if isinstance(value, str) else None
    return normal, None if normal else "must be an ISO 8601 Zulu timestamp"


def _check_number(name: str, value: object) -> _Checked:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value, None if ok else "must be a number"


_CHECKS: dict[str, Callable[[str, object], _Checked]] = {
    "text": _check_text,
    "select": _check_select,
    "multiselect": _check_multiselect,
    "date": _check_date,
    "number": _check_number,
}


def _check_field(name: str, value: object) -> _Checked:
    """Return the stored form of ``value`` for field ``name`` and an error message or ``None``.

    ``None`` clears a field, which only a required field refuses.
    """
    if value is None:
        return None, "is required" if name in REQUIRED_ON_CREATE else None
    return _CHECKS[FIELDS[name]](name, value)


def validate_body(body: object, *, partial: bool) -> dict[str, Any]:
    """Return the checked, normalised fields of a create/update body.

    Raises :class:`QueryError` ``invalid_body`` with ``data.errors`` mapping
    each bad field to a message: the body is not an object, a field is
    unknown or read-only, has the wrong type or option, or a required field
    (``REQUIRED_ON_CREATE``) is missing for create/PUT.
    """
    if not isinstance(body, dict):
        raise QueryError("invalid_body", "the body must be a JSON object", {"errors": {}})
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name not in WRITABLE_FIELDS:
            errors[name] = "is unknown or read-only"
            continue
        stored, problem = _check_field(name, value)
        if problem:
            errors[name] = problem
        else:
            fields[name] = stored
    if not partial:
        for name in REQUIRED_ON_CREATE:
            if name not in body:
                errors[name] = "is required"
    if errors:
        raise QueryError("invalid_body", "the body has invalid fields", {"errors": errors})
    return fields
