"""A fake Accutics Open API for tests, benchmarks and demos, with no account needed.

::

    from accutics_async.testing import FakeAccuticsServer

    async with FakeAccuticsServer(records=10_000, seed=1) as server:
        server.base_url          # "http://127.0.0.1:PORT/v1"
        server.token             # full access; server.restricted_token gets 403

In pytest, the ``accutics_server`` fixture (from the plugin this package
registers) gives a running server with 250 records, seed 1.

Endpoints (paths under ``base_url``; ``meta.endpoint`` names in brackets):

==========================  =========================================================
``GET /records``            page-number collection [records.index]:
                            ``page``, ``page_size``, ``sort``, ``search``
``GET /stream/records``     cursor collection [records.cursor]:
                            ``cursor``, ``page_size``, ``sort``, ``search``
``GET /records/{id}``       one record [records.show]
``POST /records``           create, 201 [records.store]
``PUT/PATCH /records/{id}`` replace / change fields [records.update]
``DELETE /records/{id}``    delete, 200 with the deleted record [records.destroy]
==========================  =========================================================

Choices where API_BASICS.md is silent (a faithful fake has to pick):

Paging
    ``page_size`` defaults to ``max_page_size`` (100); above it, it is
    clamped (as documented); below 1 or not an integer -> 422
    ``invalid_parameter`` (``data.parameter`` names it); so is a bad ``page``.
    A page past the last has ``data: []``. Links are absolute, built from the
    request's host, and keep ``search``, ``sort`` and the effective
    ``page_size``; other query parameters are dropped. ``last`` is at least
    1, ``previous`` is null on page 1, ``next`` null from the last page on.
    The cursor is opaque (URL-safe base64 of the last record's sort values
    and id): a keyset, so records inserted or deleted meanwhile shift
    nothing; ``next_cursor`` is null on the last page. A malformed cursor, or
    one made for another ``sort``, is 422 ``invalid_cursor``.
Sorting
    Any record field, several keys, ``-`` for descending; ties always broken
    by ``id`` ascending. Default: ``created_at`` (then id), which is also
    the order records were created in. Nulls sort first ascending (as in
    MySQL); text compares by code point; users by name. An unknown field or
    malformed sort (an empty key: ``a,``, ``-``) is 422 ``invalid_sort``;
    ``+a`` or ``--a`` name no field.
Searching
    The server reads ``search`` with its own grammar (``_grammar``), written
    from API_BASICS.md and independent of the client's parser, so that our
    integration tests check the client against an outside reading. Every
    operator and alias of the table, in any ASCII case. A filter splits at
    its first two ``:`` (values may contain more); an empty filter, value or
    dimension, a value after ``exists``/``missing`` (a trailing ``:``
    included), none for other operators and several for ``gt``/``gte``/
    ``lt``/``lte`` are 422 ``invalid_search``. Unknown dimension, an operator the
    dimension does not offer (see ``_schema.OPERATORS_BY_KIND``), a
    timestamp that is not ISO 8601 Zulu or a non-number for a number field is
    422 ``invalid_search`` with ``data`` naming the dimension/operator/value.
    ``eq``/``neq`` are exact and case-sensitive; ``contains``/``beginswith``/
    ``endswith`` are case-insensitive (MySQL LIKE under a _ci collation) and
    literal. ``neq`` and ``hasnone`` match records without a value ("not in
    subquery"). Comparisons skip records without a value; timestamps compare
    as instants, fraction stripped. ``missing`` means absent, null, ``""``,
    ``[]``; ``exists`` the opposite. ``eq``/``neq`` on a user field compare
    its id, ``contains`` & co. its name or email. On the multi-select
    ``input_tags``, ``eq``/``neq`` act as ``hasany``/``hasnone``.
    ``match_status`` filters expand ``synced`` to {synced, matched} and
    ``outdated`` to {outdated, out_of_sync}; an unknown status is 422 (see
    ``_schema.STATUS_MEMBERS``).
Errors
    Routing comes first: an unknown path or method (also outside the base
    path) is 400 ``invalid_route`` whatever the token. Then no or an empty
    ``Authorization`` header is 401 ``authorization_header_missing``; a
    header that is not ``Bearer <known token>`` is 401 ``invalid_token``;
    the restricted token is 403 ``authorization`` on every records endpoint.
    Unknown id: 404 ``not_found``. Bad body: 422 ``invalid_body`` with
    ``data.errors`` (field -> message). ``meta.endpoint`` is null for
    invalid routes. Error ``data`` is always an object.
Writes
    Bodies set ``submission`` and ``input_*`` fields only (others are 422);
    create and PUT require ``input_campaign_name``, ``input_medium`` and
    ``input_source``; PUT drops writable fields it does not give, PATCH
    changes only those given (null clears). Outputs are re-derived, the
    author/updater is the API user, timestamps come from a logical clock
    after every generated one, and editing a matched record makes it
    ``outdated``. New records are newest, so they come last by default.
Clock and changes
    Writes are stamped by a logical clock (one second after the previous
    write) unless ``clock=FakeClock(...)`` is given: then the test sets the
    time, so many writes can share one second and a write can commit
    "late" (stamped earlier than records already served).
    ``server.create_record(fields, stamp=)``, ``server.update_record(id,
    fields, stamp=)`` and ``server.after_pages(n, action)`` (run ``action``
    right after the n-th listing page from now) change data under a walk;
    ``server.stats.items_served`` counts records in listing pages.
Faults
    See :class:`FaultSpec` for the compact syntax; determinism holds for one
    request order (concurrent requests are drawn in arrival order).

Speed: serialised pages are cached (LRU of 512, keyed by endpoint, URL,
search, sort, page or cursor and page size) and so are query results (LRU of
16 per search and sort); any change to the data empties both. Measured on the
development machine (2 cores, client and server in one event loop, raw
aiohttp): about 4,500 pages/s for a cached 100-record page, about 650
pages/s for pages built for the first time. A search or a sort other than by
``created_at`` generates every record once (about 8 µs each, so about 10 s
for a million records; later pages of the same query are then cheap);
paging in the default order, and ``created_at`` range searches (shards),
never do.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import FakeClock
    from ._data import generate_record, generate_records
    from ._faults import FaultSpec
    from ._server import FakeAccuticsServer, make_token, serve_forever
    from ._stats import RequestRecord, ServerStats

__all__ = [
    "FakeAccuticsServer",
    "FakeClock",
    "FaultSpec",
    "RequestRecord",
    "ServerStats",
    "generate_record",
    "generate_records",
    "make_token",
    "serve_forever",
]

# Imported on first use, so that loading the pytest plugin (which every
# pytest run does once the package is installed) does not import aiohttp.web.
_WHERE = {
    "FakeAccuticsServer": "._server",
    "make_token": "._server",
    "serve_forever": "._server",
    "FaultSpec": "._faults",
    "FakeClock": "._clock",
    "RequestRecord": "._stats",
    "ServerStats": "._stats",
    "generate_record": "._data",
    "generate_records": "._data",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
