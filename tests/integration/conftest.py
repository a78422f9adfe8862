"""Shared fixtures for the fake server's own tests (raw aiohttp, not the library client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

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
