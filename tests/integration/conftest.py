"""Shared fixtures of the integration tests.

- ``fake_server`` and ``raw_client``: for the fake server's own tests (raw
  aiohttp, not the library client).
- ``server`` and ``client``: a fake server sized by the test module (its
  ``N`` records and ``SEED``) and a library client for it.

The ``accutics`` command as a user runs it is in ``cli_support``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from accutics_async import AccuticsClient
from accutics_async.testing import FakeAccuticsServer


class RawClient:
    """A thin aiohttp wrapper: absolute or base-relative URLs, auth header by default."""

    def __init__(self, session: aiohttp.ClientSession, server: FakeAccuticsServer) -> None:
        self.session = session
        self.server = server

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.server.url(path)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        token: str | None = "default",
        json: Any = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        """Return (status, decoded JSON body) of one request."""
        headers = {}
        if token is not None:
            headers["Authorization"] = (
                f"Bearer {self.server.token if token == 'default' else token}"
            )
        async with self.session.request(
            method, self._url(path), params=params, headers=headers, json=json, data=data
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str, **params: str) -> Any:
        """GET and return the body, asserting a 200."""
        status, body = await self.call("GET", path, params=params or None)
        assert status == 200, body
        return body

    async def walk(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Follow ``meta.pagination.next`` from ``path`` and return every page body."""
        pages = [await self.get(path, **params)]
        while (next_url := pages[-1]["meta"]["pagination"]["next"]) is not None:
            pages.append(await self.get(next_url))
            assert len(pages) < 10_000, "pagination does not end"
        return pages


@pytest_asyncio.fixture
async def fake_server() -> AsyncIterator[FakeAccuticsServer]:
    """A running fake server: 250 records, seed 1, max page size 100."""
    async with FakeAccuticsServer(records=250, seed=1) as server:
        yield server


@pytest_asyncio.fixture
async def raw_client(fake_server: FakeAccuticsServer) -> AsyncIterator[RawClient]:
    """A raw aiohttp client for ``fake_server``."""
    async with aiohttp.ClientSession() as session:
        yield RawClient(session, fake_server)


@pytest_asyncio.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeAccuticsServer]:
    """A running fake server with the test module's ``N`` records and ``SEED`` (default 1)."""
    records, seed = request.module.N, getattr(request.module, "SEED", 1)
    async with FakeAccuticsServer(records=records, seed=seed) as srv:
        yield srv


@pytest_asyncio.fixture
async def client(server: FakeAccuticsServer) -> AsyncIterator[AccuticsClient]:
    """A library client for ``server``."""
    async with AccuticsClient(token=server.token, base_url=server.base_url) as c:
        yield c
