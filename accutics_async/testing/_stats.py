"""What the fake server counts and logs, for tests to assert on."""

from __future__ import annotations

from collections import Counter, deque

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["RequestRecord", "ServerStats"]


@attrs.define
class RequestRecord:
    """One request the server received, in arrival order.

    ``headers`` are all request headers (``Authorization`` included, since
    tests check it arrives). ``status`` is the status sent, or ``None`` while
    in flight and for a dropped connection; ``fault`` is the injected fault's
    kind or ``None``.
    """

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    endpoint: str | None
    status: int | None = None
    fault: str | None = None


@attrs.define(repr=False)
class ServerStats:
    """Counters of a running fake server; :meth:`reset` zeroes them.

    ``requests_by_path`` counts by path without query string, ``faults`` by
    fault kind (``"503"``, ``"reset"``, ``"truncate"``, ``"html"``, and
    ``"latency"`` for delayed requests); ``items_served`` counts the records
    in listing pages answered. ``log`` keeps the last
    ``log_size`` requests.
    """

    log_size: int = 10_000
    total_requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    requests_by_path: Counter[str] = attrs.field(factory=Counter)
    requests_by_endpoint: Counter[str] = attrs.field(factory=Counter)
    faults: Counter[str] = attrs.field(factory=Counter)
    items_served: int = 0  # records in the listing pages answered
    log: deque[RequestRecord] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.log = deque(maxlen=self.log_size)

    def __repr__(self) -> str:
        # Counts only: the log holds up to log_size requests with their
        # headers (the token among them), too much and too secret to print.
        return (
            f"ServerStats(total_requests={self.total_requests}, in_flight={self.in_flight}, "
            f"peak_in_flight={self.peak_in_flight}, endpoints={dict(self.requests_by_endpoint)}, "
            f"faults={dict(self.faults)}, paths={len(self.requests_by_path)}, "
            f"log=<{len(self.log)} requests>)"
        )

    def begin(self, request: web.BaseRequest, endpoint: str | None) -> RequestRecord:
        """Count a request that has just arrived and return its log entry."""
        self.total_requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.requests_by_path[request.path] += 1
        self.requests_by_endpoint[endpoint or "invalid_route"] += 1
        entry = RequestRecord(
            request.method,
            request.path_qs,
            CIMultiDictProxy(CIMultiDict(request.headers)),
            endpoint,
        )
        self.log.append(entry)
        return entry

    def end(self) -> None:
        """Count a request as finished (answered, failed or dropped)."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Zero every counter and clear the log; requests in flight stay counted."""
        self.total_requests = 0
        self.peak_in_flight = self.in_flight
        self.requests_by_path.clear()
        self.requests_by_endpoint.clear()
        self.faults.clear()
        self.items_served = 0
        self.log.clear()
