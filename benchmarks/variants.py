"""The contenders: what a user would write by hand, and the library doing the same walk.

Every variant walks one whole listing from its first page and touches every
item (the consumer's loop is part of the cost for all of them alike), and
returns ``(items, pages)``. Each builds its own session/client, as a job
would. The raw loops are deliberately plain: no retries, no checks, no
typed errors; they are the floor the library stands on.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from accutics_async import AccuticsClient, Record

from .models import UserRecord

Walk = Callable[["Target"], Awaitable[tuple[int, int]]]


class Target:
    """One listing on the benchmark server: ``base_url`` + ``path`` at ``page_size``."""

    def __init__(self, base_url: str, token: str, path: str, page_size: int) -> None:
        self.base_url = base_url
        self.token = token
        self.path = path
        self.page_size = page_size

    @property
    def first_url(self) -> str:
        return f"{self.base_url}{self.path}?page_size={self.page_size}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}


# -- hand-written loops --------------------------------------------------------


async def raw_aiohttp_orjson(target: Target) -> tuple[int, int]:
    """aiohttp + ``orjson.loads(await resp.read())``, following ``next``."""
    items = pages = 0
    async with aiohttp.ClientSession(headers=target.headers) as session:
        url: str | None = target.first_url
        while url:
            async with session.get(url) as resp:
                resp.raise_for_status()
                doc = orjson.loads(await resp.read())
            for _item in doc["data"]:
                items += 1
            pages += 1
            url = doc["meta"]["pagination"]["next"]
    return items, pages


async def raw_aiohttp_json(target: Target) -> tuple[int, int]:
    """aiohttp + ``await resp.json()`` (stdlib json), following ``next``."""
    items = pages = 0
    async with aiohttp.ClientSession(headers=target.headers) as session:
        url: str | None = target.first_url
        while url:
            async with session.get(url) as resp:
                resp.raise_for_status()
                doc = await resp.json()
            for _item in doc["data"]:
                items += 1
            pages += 1
            url = doc["meta"]["pagination"]["next"]
    return items, pages


async def httpx_orjson(target: Target) -> tuple[int, int]:
    """httpx ``AsyncClient`` + ``orjson.loads(resp.content)``, following ``next``."""
    import httpx

    items = pages = 0
    async with httpx.AsyncClient(headers=target.headers) as client:
        url: str | None = target.first_url
        while url:
            resp = await client.get(url)
            resp.raise_for_status()
            doc = orjson.loads(resp.content)
            for _item in doc["data"]:
                items += 1
            pages += 1
            url = doc["meta"]["pagination"]["next"]
    return items, pages


def raw_concurrent(width: int) -> Walk:
    """aiohttp + orjson, page 1 first, then pages 2..last with ``width`` in flight, in order."""

    async def walk(target: Target) -> tuple[int, int]:
        items = pages = 0
        connector = aiohttp.TCPConnector(limit=width)
        async with aiohttp.ClientSession(headers=target.headers, connector=connector) as session:

            async def fetch(url: str) -> Any:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    return orjson.loads(await resp.read())

            first = await fetch(target.first_url)
            pagination = first["meta"]["pagination"]
            size, total = pagination["items_per_page"], pagination["total_items"]
            last = max(1, -(-total // size))
            todo = deque(f"{target.first_url}&page={n}" for n in range(2, last + 1))
            window: deque[asyncio.Task[Any]] = deque()
            doc = first
            while True:
                for _item in doc["data"]:
                    items += 1
                pages += 1
                while todo and len(window) < width:
                    window.append(asyncio.ensure_future(fetch(todo.popleft())))
                if not window:
                    break
                doc = await window.popleft()
        return items, pages

    walk.__doc__ = f"aiohttp + orjson, {width} pages in flight by page number, in order"
    return walk


def cattrs_loop(model: type[Any]) -> Walk:
    """aiohttp + orjson + a naive ``cattrs.preconf.orjson.make_converter().structure`` per item."""
    from cattrs.preconf.orjson import make_converter

    converter = make_converter()
    if sys.version_info < (3, 11):
        # The preconf hook is datetime.fromisoformat, which takes the API's
        # "Z" only from 3.11 on: what a user on 3.10 has to add.
        converter.register_structure_hook(
            datetime, lambda v, _: datetime.fromisoformat(v[:-1] + "+00:00" if v[-1:] == "Z" else v)
        )

    async def walk(target: Target) -> tuple[int, int]:
        items = pages = 0
        async with aiohttp.ClientSession(headers=target.headers) as session:
            url: str | None = target.first_url
            while url:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    doc = orjson.loads(await resp.read())
                for item in doc["data"]:
                    converter.structure(item, model)
                    items += 1
                pages += 1
                url = doc["meta"]["pagination"]["next"]
        return items, pages

    return walk


# -- the library ----------------------------------------------------------------


def library(*, concurrency: int = 1, model: type[Any] | None = None) -> Walk:
    """``client.paginate(path, page_size=..., concurrency=..., model=...)``, every item."""

    async def walk(target: Target) -> tuple[int, int]:
        items = 0
        async with AccuticsClient(
            token=target.token,
            base_url=target.base_url,
            max_concurrency=max(8, concurrency),
        ) as client:
            pager = client.paginate(
                target.path, page_size=target.page_size, concurrency=concurrency, model=model
            )
            async for _item in pager:
                items += 1
        return items, -(-items // target.page_size)

    return walk


__all__ = [
    "Record",
    "Target",
    "UserRecord",
    "Walk",
    "cattrs_loop",
    "httpx_orjson",
    "library",
    "raw_aiohttp_json",
    "raw_aiohttp_orjson",
    "raw_concurrent",
]
