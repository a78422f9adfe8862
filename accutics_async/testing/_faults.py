"""Seeded, deterministic fault injection for the fake server.

A :class:`FaultSpec` says how often each kind of fault happens; a
:class:`FaultPlan` (one per spec set on a server) draws from its own
``random.Random(seed)`` for every eligible request, in arrival order, so the
same seed and the same sequence of requests give the same faults.

Compact syntax (``FaultSpec.parse``, the CLI's ``--faults``): comma-separated
``key=value`` items, e.g.
``500=0.05,502=0.02,503=0.02,429=5%,reset=0.03,truncate=0.03,html=0.02,latency=20ms,jitter=10ms,retry_after=1``

==================  ===========================================================
``NNN=P``           answer HTTP ``NNN`` (400-599) with an error envelope, with
                    probability ``P`` (``0.05`` or ``5%``); 429 carries
                    ``Retry-After``
``reset=P``         close the connection without answering
``truncate=P``      send a 200 whose body stops halfway (Content-Length is the
                    full length), then close the connection
``html=P``          a proxy's 502 ``text/html`` page instead of JSON
``latency=D``       delay every eligible request by ``D`` (``20ms``, ``0.02s``
                    or ``0.02``, in seconds)
``jitter=D``        plus a uniform random delay in ``[0, D]``
``retry_after=S``   ``Retry-After`` seconds on 429 (may be fractional; default 1)
``retry_after_503=S``  send ``Retry-After`` on 503 as well (default: not sent)
``limit=R/s``       a gateway's rate limit: requests over ``R`` per second get
                    429 with ``Retry-After`` of the time to the next slot
                    (``:int`` for whole seconds, ``:burst=N``, ``/min``; see
                    ``_limit``); checked before the other faults
``seed=N``          the RNG seed (default: the server's seed)
``skip_first=N``    never fault the first ``N`` eligible requests (latency
                    still applies)
``only=A+B``        only requests to these endpoints: names such as
                    ``records.index``, or the groups ``collections``
                    (index and cursor), ``reads`` (every GET) and ``writes``
==================  ===========================================================

The probabilities must add up to at most 1; one uniform draw per eligible
request picks at most one fault, in the order statuses (ascending), reset,
truncate, html. Faults happen before routing and authentication, like a
proxy's would. In code, ``FaultSpec(predicate=...)`` can also pick eligible
requests by ``(method, path)``.

Note for clients built on aiohttp: aiohttp itself retries an idempotent
request (GET, PUT, DELETE, ...) once when the server disconnects before
answering (RFC 9112, 9.3.1), so a single ``reset`` is often invisible to
the caller; the server still logs and counts both attempts. ``reset=1``
always surfaces as ``aiohttp.ServerDisconnectedError``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._limit import GatewayBucket, LimitSpec, plain_number

__all__ = ["Fault", "FaultPlan", "FaultSpec"]

#: Endpoint names of the fake server, by the group names ``only`` accepts.
ENDPOINT_GROUPS: dict[str, frozenset[str]] = {
    "collections": frozenset({"records.index", "records.cursor"}),
    "reads": frozenset({"records.index", "records.cursor", "records.show"}),
    "writes": frozenset({"records.store", "records.update", "records.destroy"}),
}
_ENDPOINTS = frozenset().union(*ENDPOINT_GROUPS.values())
_KINDS = ("reset", "truncate", "html")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)?")


def _status_rates(
    value: Mapping[int, float] | Iterable[tuple[int, float]],
) -> tuple[tuple[int, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((int(status), float(rate)) for status, rate in items))


def _only(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    names: set[str] = set()
    for name in [value] if isinstance(value, str) else value:
        group = ENDPOINT_GROUPS.get(name)
        if group is None and name not in _ENDPOINTS:
            known = ", ".join(sorted({*ENDPOINT_GROUPS, *_ENDPOINTS}))
            raise ValueError(f"unknown endpoint or group {name!r} in only; known: {known}")
        names |= group or {name}
    return frozenset(names)


def _limit(value: LimitSpec | str | None) -> LimitSpec | None:
    return LimitSpec.parse(value) if isinstance(value, str) else value


def _check_rate(name: str, rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate {name}={rate} is not between 0 and 1")


@attrs.frozen(kw_only=True)
class FaultSpec:
    """How often the fake server misbehaves; see the module docstring.

    ``status`` maps an HTTP status (400-599) to its probability; ``reset``,
    ``truncate`` and ``html`` are probabilities; ``latency``, ``jitter``,
    ``retry_after`` and ``retry_after_503`` are seconds; ``limit`` is a
    :class:`~accutics_async.testing._limit.LimitSpec` or its text
    (``"50/s"``). Raises ``ValueError`` for an impossible spec.
    """

    status: tuple[tuple[int, float], ...] = attrs.field(default=(), converter=_status_rates)
    reset: float = 0.0
    truncate: float = 0.0
    html: float = 0.0
    latency: float = 0.0
    jitter: float = 0.0
    retry_after: float = 1.0
    retry_after_503: float | None = None
    seed: int | None = None
    skip_first: int = 0
    only: frozenset[str] | None = attrs.field(default=None, converter=_only)
    limit: LimitSpec | None = attrs.field(default=None, converter=_limit)
    predicate: Callable[[str, str], bool] | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        for status, rate in self.status:
            if not 400 <= status <= 599:
                raise ValueError(f"fault status {status} is not between 400 and 599")
            _check_rate(str(status), rate)
        for kind in _KINDS:
            _check_rate(kind, getattr(self, kind))
        if self.total_rate > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {self.total_rate:g}, more than 1")
        delays = [self.latency, self.jitter, self.retry_after, self.retry_after_503 or 0.0]
        if min(delays) < 0 or self.skip_first < 0:
            raise ValueError("latency, jitter, retry_after and skip_first must not be negative")

    @property
    def total_rate(self) -> float:
        """The probability that an eligible request gets a fault (latency aside)."""
        return sum(rate for _, rate in self.status) + self.reset + self.truncate + self.html

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Read the compact syntax; ``""`` is no faults. Raises ``ValueError``."""
        kwargs: dict[str, Any] = {}
        status: dict[int, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                raise ValueError(f"fault item {item!r} is not key=value")
            if key.isdigit():
                status[int(key)] = _rate(value)
            elif key in _KINDS:
                kwargs[key] = _rate(value)
            elif key in ("latency", "jitter", "retry_after", "retry_after_503"):
                kwargs[key] = _duration(value)
            elif key in ("seed", "skip_first"):
                kwargs[key] = _integer(key, value)
            elif key == "only":
                kwargs[key] = value.split("+")
            elif key == "limit":
                kwargs[key] = LimitSpec.parse(value)
            else:
                raise ValueError(f"unknown fault key {key!r} in {item!r}")
        return cls(status=status, **kwargs)

    def __str__(self) -> str:
        """The compact syntax for this spec (without ``predicate``)."""
        number = plain_number
        parts = [f"{status}={number(rate)}" for status, rate in self.status if rate]
        parts += [f"{kind}={number(getattr(self, kind))}" for kind in _KINDS if getattr(self, kind)]
        for name in ("latency", "jitter"):
            if getattr(self, name):
                parts.append(f"{name}={number(getattr(self, name))}")
        if self.retry_after != 1.0:
            parts.append(f"retry_after={number(self.retry_after)}")
        if self.retry_after_503 is not None:
            parts.append(f"retry_after_503={number(self.retry_after_503)}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.skip_first:
            parts.append(f"skip_first={self.skip_first}")
        if self.only is not None:
            parts.append("only=" + "+".join(sorted(self.only)))
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        return ",".join(parts)


def _rate(text: str) -> float:
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"fault rate {text!r} is not a number like 0.05 or 5%") from None


def _duration(text: str) -> float:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"duration {text!r} is not like 20ms, 0.02s or 0.02")
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def _integer(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {text!r}") from None


@attrs.frozen
class Fault:
    """What happens to one request: a delay in seconds, then ``kind`` (or nothing).

    ``kind`` is ``"reset"``, ``"truncate"``, ``"html"``, an HTTP status as
    text (``"503"``) or ``None``.
    """

    delay: float = 0.0
    kind: str | None = None


class FaultPlan:
    """Draws the fault of each request for one :class:`FaultSpec`; keeps its own RNG."""

    def __init__(
        self,
        spec: FaultSpec,
        default_seed: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.spec = spec
        self.gateway: GatewayBucket | None = None
        if spec.limit is not None:
            self.gateway = (
                GatewayBucket(spec.limit) if clock is None else GatewayBucket(spec.limit, clock)
            )
        self._rng = random.Random(default_seed if spec.seed is None else spec.seed)
        self._eligible_seen = 0
        self._table: list[tuple[float, str]] = []
        threshold = 0.0
        for kind, rate in [(str(s), r) for s, r in spec.status] + [
            (kind, getattr(spec, kind)) for kind in _KINDS
        ]:
            if rate > 0:
                threshold += rate
                self._table.append((threshold, kind))

    def eligible(self, method: str, path: str, endpoint: str | None) -> bool:
        """Return whether the spec's ``only``/``predicate`` select this request."""
        spec = self.spec
        if spec.only is not None and endpoint not in spec.only:
            return False
        return spec.predicate is None or spec.predicate(method, path)

    def limited(self, method: str, path: str, endpoint: str | None) -> str | None:
        """The ``Retry-After`` text if the rate limit turns this request away, else ``None``.

        Call once per request, on arrival, before :meth:`draw`.
        """
        gateway = self.gateway
        if gateway is None or not self.eligible(method, path, endpoint):
            return None
        wait = gateway.admit()
        return None if wait is None else gateway.retry_after(wait)

    def draw(self, method: str, path: str, endpoint: str | None) -> Fault:
        """Return the fault for the next request; call once per request, in arrival order."""
        if not self.eligible(method, path, endpoint):
            return Fault()
        # Always two draws per eligible request, whatever the outcome, so one
        # request's fault never depends on which kinds are configured.
        pick, spread = self._rng.random(), self._rng.random()
        delay = self.spec.latency + self.spec.jitter * spread
        self._eligible_seen += 1
        if self._eligible_seen <= self.spec.skip_first:
            return Fault(delay)
        for threshold, kind in self._table:
            if pick < threshold:
                return Fault(delay, kind)
        return Fault(delay)
