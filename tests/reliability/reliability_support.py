"""Helpers shared by the reliability tests: small servers, capture, token scans.

Everything listens on 127.0.0.1 only; every loop here is bounded.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from loopback_support import serve_app

from accutics_async import RetryPolicy

#: About 21% of the requests faulted: every kind the fake server knows, seeded.
SOAK_FAULTS = (
    "500=0.05,502=0.04,503=0.04,429=0.03,reset=0.02,truncate=0.02,html=0.01,"
    "latency=1ms,jitter=1ms,retry_after=0.01,seed=3,only=collections"
)
#: Retries that ride through the soak's faults quickly.
FAST_RETRY = RetryPolicy(max_attempts=8, backoff=0.01, max_backoff=0.2)
#: A token long enough to be redacted, unlike any text a server would send.
HOSTILE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.reliability-test-token.c2VjcmV0LXNpZ25hdHVyZQ"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listener:
    """Another loopback origin that records every request it receives (it should get none)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        return web.json_response({"data": [], "meta": {"endpoint": "listener"}})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Listener]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        async with serve_app(app) as url:
            self.url = url
            yield self


class Capture:
    """Text produced while the library ran, to be scanned for a secret."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, label: str, value: Any) -> None:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        self.texts.append((label, value if isinstance(value, str) else repr(value)))

    def add_file(self, path: str | os.PathLike[str]) -> None:
        self.add(f"file {os.fspath(path)}", Path(path).read_bytes())

    def add_exception(self, exc: BaseException) -> None:
        """Its message, repr, full traceback text, pickled form, and every chained exception."""
        self.add("str", str(exc))
        self.add("traceback", "".join(traceback.format_exception(exc)))
        self.add("pickle", pickle.dumps(exc))
        seen: set[int] = set()
        item: BaseException | None = exc
        while item is not None and id(item) not in seen:
            seen.add(id(item))
            self.add("repr", repr(item))
            self.add("vars", repr(vars(item)))
            item = item.__cause__ or item.__context__

    def assert_clean(self, secret: str) -> int:
        """Assert ``secret`` appears nowhere; return how many characters were scanned."""
        leaks = [label for label, text in self.texts if secret in text]
        assert not leaks, f"the token leaked into: {leaks[:5]}"
        return sum(len(text) for _, text in self.texts)


class _ListHandler(logging.Handler):
    def __init__(self, capture: Capture) -> None:
        super().__init__(logging.DEBUG)
        self.capture = capture
        self.count = 0
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        # format() adds exc_info and stack_info text when the record has them.
        self.capture.add(f"log {record.name}", self.format(record))
        self.capture.add("log args", repr(record.args))


@contextmanager
def capture_logs(capture: Capture) -> Iterator[_ListHandler]:
    """Every log record of every logger, at DEBUG, into ``capture`` (via a root handler)."""
    root = logging.getLogger()
    handler = _ListHandler(capture)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def jsonl_ids(path: str | os.PathLike[str]) -> list[str]:
    """The ``id`` of every line of a JSON Lines file, in order."""
    with open(path, "rb") as handle:
        return [orjson.loads(line)["id"] for line in handle]


def cli_env(token: str, base_url: str) -> dict[str, str]:
    """The environment a CLI subprocess gets its credentials from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCUTICS_")}
    env.update(ACCUTICS_TOKEN=token, ACCUTICS_BASE_URL=base_url, PYTHONUNBUFFERED="1")
    return env


CLI = [sys.executable, "-m", "accutics_async"]


def report(record_property: Any, name: str, value: Any) -> None:
    """Attach a figure to the test report (junit ``record_property``) and print it."""
    record_property(name, json.dumps(value, sort_keys=True, default=str))
    print(f"[reliability] {name}: {json.dumps(value, sort_keys=True, default=str)}")
