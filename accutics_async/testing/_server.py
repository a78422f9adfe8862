"""``FakeAccuticsServer``: start, stop and steer the fake API from tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from ._api import CURSOR_ENDPOINT, PAGE_ENDPOINT, FakeApi
from ._clock import FakeClock, to_epoch
from ._data import generate_record
from ._faults import FaultPlan, FaultSpec
from ._query import QueryError
from ._schema import WRITABLE_FIELDS
from ._stats import RequestRecord, ServerStats
from ._store import Dataset

__all__ = ["FakeAccuticsServer", "make_token", "serve_forever"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(seed: int, subject: str) -> str:
    """Return a deterministic JWT-shaped bearer token (HS256, not meant to be verified)."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims = {"iss": "accutics-fake-server", "sub": subject, "iat": 1_700_000_000 + seed}
    payload = _b64(orjson.dumps(claims))
    key = f"accutics-fake-server:{seed}".encode()
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


class FakeAccuticsServer:
    """The Accutics Open API, faked on 127.0.0.1 over deterministic records.

    ``async with FakeAccuticsServer(records=1000, seed=1) as server:`` starts
    it on a free port (or ``await server.start()`` / ``await server.stop()``).
    See the :mod:`accutics_async.testing` docstring for endpoints and rules.

    ``token`` defaults to a deterministic JWT-shaped token for the seed;
    ``restricted_token`` (a valid token of a user with no access: every
    records endpoint answers it 403 ``authorization``) likewise. ``faults``
    is a :class:`FaultSpec` or its compact text. ``default_page_size`` is the
    page size when none is asked for (default: ``max_page_size``).
    ``ssl_context`` (a server-side :class:`ssl.SSLContext`) serves HTTPS, for
    testing a client's ``ssl=`` settings against a private CA.
    ``clock`` (a :class:`FakeClock`) stamps writes (``created_at``,
    ``updated_at``) and dates the answers (``Date``, the time each request
    came in); without one each write is stamped one second after the
    previous one. An unset clock starts just after the newest generated
    timestamp.
    """

    page_endpoint = PAGE_ENDPOINT
    cursor_endpoint = CURSOR_ENDPOINT

    def __init__(
        self,
        records: int = 1000,
        seed: int = 1,
        *,
        max_page_size: int = 100,
        default_page_size: int | None = None,
        token: str | None = None,
        restricted_token: str | None = None,
        faults: FaultSpec | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        base_path: str = "/v1",
        request_log_size: int = 10_000,
        shutdown_timeout: float = 2.0,
        clock: FakeClock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_page_size < 1:
            raise ValueError(f"max_page_size must be >= 1, got {max_page_size}")
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise ValueError(f"base_path must start and not end with '/', got {base_path!r}")
        self.seed = seed
        self.max_page_size = max_page_size
        self.token = token or make_token(seed, "api-user")
        self.restricted_token = restricted_token or make_token(seed, "api-user-without-access")
        if self.token == self.restricted_token:
            raise ValueError("token and restricted_token must differ")
        self.host = host
        self.base_path = base_path
        self.dataset = Dataset(records, seed)
        self.clock = clock
        if clock is not None:
            if clock.now is None:
                clock.now = self.dataset.logical_now + 1
            self.dataset.clock = clock
        self.stats = ServerStats(log_size=request_log_size)
        self._api = FakeApi(
            self.dataset,
            token=self.token,
            restricted_token=self.restricted_token,
            max_page_size=max_page_size,
            default_page_size=min(default_page_size or max_page_size, max_page_size),
            stats=self.stats,
        )
        self._requested_port = port
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.faults = faults
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"<FakeAccuticsServer {where} records={len(self.dataset)} seed={self.seed}>"

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving; ``base_url`` is valid afterwards. Raises ``RuntimeError`` if running."""
        if self._runner is not None:
            raise RuntimeError("the fake server is already running")
        runner = web.AppRunner(
            self._api.make_app(self.base_path),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            await web.TCPSite(
                runner, self.host, self._requested_port, ssl_context=self._ssl_context
            ).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close every connection; does nothing if not running."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeAccuticsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the one asked for until started)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (``https`` with ``ssl_context``), the base of every path."""
        if self._runner is None:
            raise RuntimeError("the fake server is not running; start it first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self._port}{self.base_path}"

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` (e.g. ``server.page_endpoint``)."""
        return self.base_url + "/" + path.lstrip("/")

    def describe(self) -> dict[str, Any]:
        """Return what a user needs to connect, e.g. for the CLI to print."""
        return {
            "base_url": self.base_url,
            "page_endpoint": self.page_endpoint,
            "cursor_endpoint": self.cursor_endpoint,
            "record_endpoint": self.page_endpoint + "/{id}",
            "token": self.token,
            "restricted_token": self.restricted_token,
            "records": len(self.dataset),
            "seed": self.seed,
            "max_page_size": self.max_page_size,
            "faults": str(self.faults) if self.faults is not None else None,
        }

    # -- faults, data and observation ---------------------------------------------

    @property
    def faults(self) -> FaultSpec | None:
        """The active fault spec; setting it (a spec, its text or None) restarts its RNG."""
        plan = self._api.fault_plan
        return plan.spec if plan is not None else None

    @faults.setter
    def faults(self, value: FaultSpec | str | None) -> None:
        spec = FaultSpec.parse(value) if isinstance(value, str) else value
        self._api.fault_plan = FaultPlan(spec, self.seed) if spec is not None else None

    @property
    def request_log(self) -> list[RequestRecord]:
        """The last requests received (``request_log_size`` of them), oldest first."""
        return list(self.stats.log)

    def reset_stats(self) -> None:
        """Zero the counters and clear the request log."""
        self.stats.reset()

    def insert_records(self, count: int, *, at: int | None = None) -> list[dict[str, Any]]:
        """Insert ``count`` records at position ``at`` of the default order; return them.

        ``at=None`` appends (newest), ``at=0`` inserts before everything
        (oldest). Simulates data drifting under a paginating client.
        """
        return self.dataset.insert(count, at)

    def delete_record(self, record_id: str) -> dict[str, Any]:
        """Delete a record by id and return it; raises ``KeyError`` if there is none."""
        handle = self.dataset.find(record_id)
        if handle is None:
            raise KeyError(record_id)
        return self.dataset.delete(handle)

    def create_record(
        self,
        fields: Mapping[str, Any] | None = None,
        *,
        stamp: int | str | datetime | None = None,
    ) -> dict[str, Any]:
        """Add a record as ``POST`` would and return it.

        ``fields`` are writable fields (default: those of a generated
        record). ``stamp`` (UTC seconds, ISO Zulu text or an aware datetime)
        is its ``created_at``/``updated_at``, default the clock; a stamp
        earlier than records already served is a "late" commit. Raises
        ``ValueError`` for bad fields.
        """
        if fields is None:
            generated = generate_record(self.seed, self.dataset.next_handle)
            fields = {k: v for k, v in generated.items() if k in WRITABLE_FIELDS}
        return self._write(lambda when: self.dataset.create(dict(fields), stamp=when), stamp)

    def update_record(
        self,
        record_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        stamp: int | str | datetime | None = None,
    ) -> dict[str, Any]:
        """Change a record as ``PATCH`` would (``fields``: default none) and return it.

        Its ``updated_at`` becomes ``stamp`` (as for :meth:`create_record`),
        default the clock. Raises ``KeyError`` for an unknown id and
        ``ValueError`` for bad fields.
        """
        handle = self.dataset.find(record_id)
        if handle is None:
            raise KeyError(record_id)
        body = dict(fields or {})
        return self._write(
            lambda when: self.dataset.update(handle, body, partial=True, stamp=when), stamp
        )

    @staticmethod
    def _write(
        change: Callable[[int | None], dict[str, Any]], stamp: int | str | datetime | None
    ) -> dict[str, Any]:
        when = None if stamp is None else to_epoch(stamp)
        try:
            return change(when)
        except QueryError as exc:
            raise ValueError(f"{exc}: {exc.data}") from exc

    def after_pages(self, count: int, action: Callable[[], object]) -> None:
        """Run ``action()`` once, right after the ``count``-th listing page from now is built.

        Either listing endpoint counts. The page itself is already built, so
        the change shows from the next page on: data changing under a walk.
        """
        self._api.after_pages(count, action)

    @property
    def listing_pages(self) -> int:
        """How many listing pages (either endpoint) have been answered."""
        return self._api.listing_pages

    def get_record(self, record_id: str) -> dict[str, Any] | None:
        """Return the record with this id, or ``None``."""
        handle = self.dataset.find(record_id)
        return None if handle is None else self.dataset.record(handle)

    def all_records(self) -> list[dict[str, Any]]:
        """Return every record in the default order (generates them all: mind large sizes)."""
        return list(self.dataset)


async def serve_forever(
    *,
    port: int = 0,
    records: int = 1000,
    seed: int = 1,
    token: str | None = None,
    faults: FaultSpec | str | None = None,
    host: str = "127.0.0.1",
    max_page_size: int = 100,
    on_ready: Callable[[FakeAccuticsServer], None] | None = None,
) -> None:
    """Run a fake server until cancelled; ``on_ready(server)`` is called once it listens.

    For ``accutics fake-server``. Raises ``ValueError`` for a bad fault spec
    and ``OSError`` if the port cannot be bound.
    """
    async with FakeAccuticsServer(
        records,
        seed,
        token=token,
        faults=faults,
        host=host,
        port=port,
        max_page_size=max_page_size,
    ) as server:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()
