"""The fake API itself: routes, authentication, paging, writes and faults.

:class:`FakeApi` builds the ``aiohttp.web.Application``; every request goes
through one middleware that counts it, applies the fault plan, answers
unknown routes and bad tokens with the documented error envelopes, and turns
:class:`ApiProblem`/:class:`QueryError` into error responses, so aiohttp's own
404/405 pages never leak out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import orjson
from aiohttp import web

from ._envelope import (
    HTML_502,
    ApiProblem,
    cursor_meta,
    error_code_for,
    error_response,
    json_response,
    page_number_meta,
)
from ._faults import Fault, FaultPlan
from ._limit import plain_number
from ._query import QueryError, decode_cursor, encode_cursor, record_key
from ._stats import RequestRecord, ServerStats
from ._store import Dataset

__all__ = ["CURSOR_ENDPOINT", "PAGE_ENDPOINT", "FakeApi"]

PAGE_ENDPOINT = "/records"
CURSOR_ENDPOINT = "/stream/records"
RECORD_ENDPOINT = "/records/{id}"

_PAGE_CACHE_SIZE = 512
_NO_FAULT = Fault()
_logger = logging.getLogger("accutics_async.testing")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeApi:
    """Request handling over one :class:`Dataset`; owned by ``FakeAccuticsServer``."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        token: str,
        restricted_token: str,
        max_page_size: int,
        default_page_size: int,
        stats: ServerStats,
    ) -> None:
        self.dataset = dataset
        self.token = token
        self.restricted_token = restricted_token
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size
        self.stats = stats
        self.fault_plan: FaultPlan | None = None
        self._pages: OrderedDict[tuple[Any, ...], tuple[bytes, int]] = OrderedDict()
        self._pages_version = dataset.version
        # Listing pages answered so far, and actions due after the n-th one
        # (FakeAccuticsServer.after_pages): changes between pages of a walk.
        self.listing_pages = 0
        self._after_pages: list[tuple[int, Callable[[], object]]] = []

    def after_pages(self, count: int, action: Callable[[], object]) -> None:
        """Run ``action()`` once, right after the ``count``-th listing page from now is built."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count == 0:
            action()
            return
        self._after_pages.append((self.listing_pages + count, action))

    def _listing_served(self, items: int) -> None:
        self.listing_pages += 1
        self.stats.items_served += items
        due = [action for when, action in self._after_pages if when <= self.listing_pages]
        self._after_pages = [(w, a) for w, a in self._after_pages if w > self.listing_pages]
        for action in due:
            action()

    def make_app(self, base_path: str) -> web.Application:
        """Return the application with every route under ``base_path``."""
        app = web.Application(middlewares=[self._middleware])
        # The cursor route comes first so that it is not taken for a record id.
        for method, path, handler, name in (
            ("GET", CURSOR_ENDPOINT, self._cursor_index, "records.cursor"),
            ("GET", PAGE_ENDPOINT, self._page_index, "records.index"),
            ("POST", PAGE_ENDPOINT, self._store, "records.store"),
            ("GET", RECORD_ENDPOINT, self._show, "records.show"),
            ("PUT", RECORD_ENDPOINT, self._update, "records.update"),
            ("PATCH", RECORD_ENDPOINT, self._update, "records.update"),
            ("DELETE", RECORD_ENDPOINT, self._destroy, "records.destroy"),
        ):
            # aiohttp wants unique route names; the endpoint name is looked
            # up from the handler instead (see _endpoint_of).
            app.router.add_route(method, base_path + path, handler, name=f"{name}.{method}")
        return app

    # -- the middleware --------------------------------------------------------

    @staticmethod
    def _endpoint_of(request: web.Request) -> str | None:
        if request.match_info.http_exception is not None:
            return None
        name = request.match_info.route.name
        return name.rsplit(".", 1)[0] if name else None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = self._endpoint_of(request)
        entry = self.stats.begin(request, endpoint)
        # With a FakeClock, the answer is dated by it (read without a step),
        # at the time the request came in, before any write it sets off.
        now = getattr(self.dataset.clock, "now", None)
        try:
            response = await self._respond(request, handler, endpoint, entry)
            if entry.fault != "reset":
                entry.status = response.status
            if isinstance(now, int) and not response.prepared:  # a cut answer has gone
                when = datetime.fromtimestamp(now, timezone.utc)
                response.headers["Date"] = format_datetime(when, usegmt=True)
            return response
        finally:
            self.stats.end()

    async def _respond(
        self, request: web.Request, handler: Handler, endpoint: str | None, entry: RequestRecord
    ) -> web.StreamResponse:
        plan = self.fault_plan
        if plan is not None and plan.gateway is not None:
            wait = plan.limited(request.method, request.path, endpoint)
            if wait is not None:
                # A gateway answers at once, before latency or any other fault.
                self.stats.faults["limit"] += 1
                entry.fault = "limit"
                message = f"Rate limit of {plan.spec.limit} exceeded; retry after {wait}s."
                headers = {"Retry-After": wait}
                return error_response(429, "too_many_requests", message, {}, endpoint, headers)
        fault = plan.draw(request.method, request.path, endpoint) if plan else _NO_FAULT
        if fault.delay > 0:
            self.stats.faults["latency"] += 1
            await asyncio.sleep(fault.delay)
        if plan is None or fault.kind is None:
            return await self._answer(request, handler, endpoint)
        self.stats.faults[fault.kind] += 1
        entry.fault = fault.kind
        if fault.kind == "reset":
            return self._reset(request)
        if fault.kind == "truncate":
            return await self._truncate(request, await self._answer(request, handler, endpoint))
        if fault.kind == "html":
            return web.Response(status=502, body=HTML_502, content_type="text/html")
        status = int(fault.kind)
        headers = {}
        retry_after = {429: plan.spec.retry_after, 503: plan.spec.retry_after_503}.get(status)
        if retry_after is not None:
            headers["Retry-After"] = plain_number(retry_after)
        message = f"Injected fault: HTTP {status}."
        return error_response(
            status, error_code_for(status), message, {"fault": fault.kind}, endpoint, headers
        )

    async def _answer(
        self, request: web.Request, handler: Handler, endpoint: str | None
    ) -> web.StreamResponse:
        try:
            if endpoint is None:
                raise ApiProblem(
                    400,
                    "invalid_route",
                    f"No endpoint matches {request.method} {request.path}.",
                    {"method": request.method, "path": request.path},
                )
            self._authorize(request, endpoint)
            return await handler(request)
        except ApiProblem as problem:
            return error_response(
                problem.status, problem.code, problem.message, problem.data, endpoint
            )
        except QueryError as problem:
            return error_response(422, problem.code, problem.message, problem.data, endpoint)
        except web.HTTPException as exc:  # e.g. 413 from reading a too large body
            return error_response(exc.status, error_code_for(exc.status), exc.reason, {}, endpoint)

    def _authorize(self, request: web.Request, endpoint: str) -> None:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise ApiProblem(
                401, "authorization_header_missing", "The Authorization header is missing."
            )
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in (self.token, self.restricted_token):
            raise ApiProblem(401, "invalid_token", "The bearer token is malformed or unknown.")
        if token == self.restricted_token:
            raise ApiProblem(
                403,
                "authorization",
                "The API user does not have the permission to access this resource.",
                {"endpoint": endpoint},
            )

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        # Closing the transport makes aiohttp's own write of this response
        # fail with a ConnectionError, which it ignores quietly.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    @staticmethod
    async def _truncate(request: web.Request, full: web.StreamResponse) -> web.StreamResponse:
        body = full.body if isinstance(full, web.Response) else None
        payload = body if isinstance(body, bytes) else b"{}"
        response = web.StreamResponse(status=full.status)
        response.content_type = full.content_type
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        if request.transport is not None:
            request.transport.close()
        return response

    # -- collections -------------------------------------------------------------

    def _int_param(self, request: web.Request, name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise QueryError(
                "invalid_parameter",
                f"{name} must be a positive integer.",
                {"parameter": name, "value": raw},
            )
        return value

    def _page_size(self, request: web.Request) -> int:
        # API_BASICS.md: "If a page size greater than the maximum is
        # requested, the page size is limited to the maximum page size."
        return min(
            self._int_param(request, "page_size", self.default_page_size), self.max_page_size
        )

    def _cached(self, key: tuple[Any, ...], build: Callable[[], tuple[bytes, int]]) -> bytes:
        """The body of a listing page (built, or from the cache); counts it as served."""
        if self._pages_version != self.dataset.version:
            self._pages.clear()
            self._pages_version = self.dataset.version
        cached = self._pages.get(key)
        if cached is None:
            cached = build()
            self._pages[key] = cached
            if len(self._pages) > _PAGE_CACHE_SIZE:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        body, count = cached
        self._listing_served(count)
        return body

    @staticmethod
    def _kept_params(request: web.Request, size: int) -> tuple[str, str, dict[str, str]]:
        search = request.query.get("search", "")
        sort = request.query.get("sort", "")
        params = {name: value for name, value in (("search", search), ("sort", sort)) if value}
        params["page_size"] = str(size)
        return search, sort, params

    async def _page_index(self, request: web.Request) -> web.StreamResponse:
        size = self._page_size(request)
        page = self._int_param(request, "page", 1)
        search, sort, params = self._kept_params(request, size)
        url = request.url.with_query(None)

        def build() -> tuple[bytes, int]:
            handles, _ = self.dataset.query(search, sort)
            start = (page - 1) * size
            items = [self.dataset.record(h) for h in handles[start : start + size]]
            meta = page_number_meta(url, params, page, size, len(handles))
            body = {"data": items, "meta": {"endpoint": "records.index", "pagination": meta}}
            return orjson.dumps(body), len(items)

        return json_response(self._cached(("index", str(url), search, sort, page, size), build))

    async def _cursor_index(self, request: web.Request) -> web.StreamResponse:
        size = self._page_size(request)
        cursor = request.query.get("cursor") or None
        search, sort, params = self._kept_params(request, size)
        url = request.url.with_query(None)

        def build() -> tuple[bytes, int]:
            handles, spec = self.dataset.query(search, sort)
            start = 0
            if cursor is not None:
                start = self.dataset.position_after(handles, spec, decode_cursor(spec, cursor))
            items = [self.dataset.record(h) for h in handles[start : start + size]]
            next_cursor = None
            if items and start + size < len(handles):
                next_cursor = encode_cursor(spec, record_key(spec, items[-1]))
            meta = cursor_meta(url, params, size, cursor, next_cursor)
            body = {"data": items, "meta": {"endpoint": "records.cursor", "pagination": meta}}
            return orjson.dumps(body), len(items)

        return json_response(self._cached(("cursor", str(url), search, sort, cursor, size), build))

    # -- single records ------------------------------------------------------------

    def _handle(self, request: web.Request) -> int:
        record_id = request.match_info["id"]
        handle = self.dataset.find(record_id)
        if handle is None:
            raise ApiProblem(
                404, "not_found", f"No record with id {record_id!r}.", {"id": record_id}
            )
        return handle

    @staticmethod
    async def _body(request: web.Request) -> object:
        raw = await request.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise QueryError(
                "invalid_body", "The body is not valid JSON.", {"errors": {"body": "not JSON"}}
            ) from None

    @staticmethod
    def _single(record: dict[str, Any], endpoint: str, status: int = 200) -> web.Response:
        return json_response(orjson.dumps({"data": record, "meta": {"endpoint": endpoint}}), status)

    async def _show(self, request: web.Request) -> web.StreamResponse:
        return self._single(self.dataset.record(self._handle(request)), "records.show")

    async def _store(self, request: web.Request) -> web.StreamResponse:
        record = self.dataset.create(await self._body(request))
        return self._single(record, "records.store", 201)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        handle = self._handle(request)
        partial = request.method == "PATCH"
        record = self.dataset.update(handle, await self._body(request), partial=partial)
        return self._single(record, "records.update")

    async def _destroy(self, request: web.Request) -> web.StreamResponse:
        return self._single(self.dataset.delete(self._handle(request)), "records.destroy")
