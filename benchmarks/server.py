"""The benchmark server: pre-serialised pages, in a process of its own.

Run as ``python -m benchmarks.server [--latency-ms N]``; it prints one JSON
line ``{"port": ..., "token": ...}`` once it listens, and serves until killed.

Why not ``FakeAccuticsServer``: its cached path is a faithful API (search,
sort, stats, faults) and that costs server CPU per request; measured from
another process with a raw aiohttp loop it serves fewer pages per second
than a bare client can read (see ``probe_fake_server`` in ``__main__``), so
the benchmark would measure the server. This one does almost nothing per
request: each record is serialised once (the two shapes of ``shapes``:
``nested``, the fake server's records from
``accutics_async.testing.generate_records``, about 1.1 KB, 22 fields; and
``flat``, the same flattened to 26 scalar fields) with its id cut out, and a
page is the splice of those bytes with unique ids, cached.

URLs: ``/v1/<shape>/<total>/records?page=N&page_size=S`` (page-number, with
the documented ``meta.pagination`` keys and absolute links) and
``/v1/<shape>/<total>/stream/records?cursor=C&page_size=S`` (cursor).
``<shape>`` is ``nested`` or ``flat`` and ``<total>`` the size of the
listing, so one server serves every benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from accutics_async.testing import make_token

from .shapes import SHAPES, records

# JWT-shaped and of a real token's length (169 bytes, as a real access token's
# header.payload.signature runs): the client scans each body for its token
# (to redact it), and how long that takes depends on the token's length.
TOKEN = make_token(7, "bench-user")
POOL = 4096
_ID_PREFIX = b'{"id":"'
# An id with the shape and length of the UUIDs the generator makes.
_ID_FORMAT = "00000000-0000-4000-8000-%012d"
_CACHE_BYTES = 1024 * 1024 * 1024
# Bigger listings (the 1M export) are built per request: caching them would
# only evict the pages the repeated rounds of the other groups need.
_CACHE_MAX_TOTAL = 200_000


def _pool(shape: str) -> list[bytes]:
    """Each pool record serialised without its id: the bytes after ``{"id":"<id>"``."""
    rests = []
    for record in records(shape, POOL, seed=7):
        body = orjson.dumps(record)
        assert body.startswith(_ID_PREFIX)
        end = body.index(b'"', len(_ID_PREFIX))
        rests.append(body[end + 1 :])
    return rests


class BenchApi:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.pools = {shape: _pool(shape) for shape in SHAPES}
        self.cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.cached_bytes = 0
        self.auth = f"Bearer {TOKEN}"

    def _items(self, shape: str, start: int, stop: int) -> bytes:
        rests = self.pools[shape]
        parts = []
        for index in range(start, stop):
            parts.append(b'{"id":"' + (_ID_FORMAT % index).encode() + b'"' + rests[index % POOL])
        return b",".join(parts)

    def _page(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        if key[1] > _CACHE_MAX_TOTAL:
            return build()
        body = self.cache.get(key)
        if body is not None:
            return body
        body = build()
        self.cache[key] = body
        self.cached_bytes += len(body)
        while self.cached_bytes > _CACHE_BYTES:
            _, old = self.cache.popitem(last=False)
            self.cached_bytes -= len(old)
        return body

    async def _guard(self, request: web.Request) -> tuple[str, int, int] | web.Response:
        if request.headers.get("Authorization") != self.auth:
            return web.Response(
                status=401,
                body=b'{"error":{"code":"authorization_header_missing","message":"no",'
                b'"data":{}},"meta":{"endpoint":null}}',
                content_type="application/json",
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        total = int(request.match_info["total"])
        size = min(1000, max(1, int(request.query.get("page_size", "100"))))
        return request.match_info["shape"], total, size

    async def page_index(self, request: web.Request) -> web.StreamResponse:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        shape, total, size = guard
        page = int(request.query.get("page", "1"))
        base = f"http://{request.host}{request.path}?page_size={size}&page="

        def build() -> bytes:
            last = max(1, -(-total // size))
            start = min(total, (page - 1) * size)
            meta = {
                "endpoint": "records.index",
                "pagination": {
                    "first": f"{base}1",
                    "previous": f"{base}{page - 1}" if page > 1 else None,
                    "current": f"{base}{page}",
                    "next": f"{base}{page + 1}" if page < last else None,
                    "last": f"{base}{last}",
                    "items_per_page": size,
                    "total_items": total,
                    "page_param": "page",
                    "size_param": "page_size",
                },
            }
            items = self._items(shape, start, min(total, start + size))
            return b'{"data":[' + items + b'],"meta":' + orjson.dumps(meta) + b"}"

        body = self._page(("p", total, shape, size, page, request.host), build)
        return web.Response(body=body, content_type="application/json")

    async def cursor_index(self, request: web.Request) -> web.StreamResponse:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        shape, total, size = guard
        cursor = request.query.get("cursor")
        # An opaque-looking cursor: the offset in hex behind a prefix.
        start = int(cursor[2:], 16) if cursor else 0
        base = f"http://{request.host}{request.path}?page_size={size}"

        def build() -> bytes:
            stop = min(total, start + size)
            following = f"c-{stop:x}" if stop < total else None
            meta = {
                "endpoint": "records.cursor",
                "pagination": {
                    "current": f"{base}&cursor={cursor}" if cursor else base,
                    "next": f"{base}&cursor={following}" if following else None,
                    "items_per_page": size,
                    "next_cursor": following,
                    "cursor_param": "cursor",
                    "size_param": "page_size",
                },
            }
            items = self._items(shape, start, stop)
            return b'{"data":[' + items + b'],"meta":' + orjson.dumps(meta) + b"}"

        body = self._page(("c", total, shape, size, start, request.host), build)
        return web.Response(body=body, content_type="application/json")


def make_app(latency: float = 0.0) -> web.Application:
    api = BenchApi(latency)
    app = web.Application()
    listing = "/v1/{shape:" + "|".join(SHAPES) + "}/{total:\\d+}"
    app.router.add_get(f"{listing}/records", api.page_index)
    app.router.add_get(f"{listing}/stream/records", api.cursor_index)
    return app


async def serve(port: int, latency: float) -> None:
    runner = web.AppRunner(make_app(latency), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    sys.stdout.write(orjson.dumps({"port": bound, "token": TOKEN}).decode() + "\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.latency_ms / 1000.0))


if __name__ == "__main__":
    main()
