"""The setup shared by ``tests/fixtures/recorded/record.py`` and the tests that resume its files.

A pager fingerprint and the URLs in a checkpoint name the server's origin,
and the fake server listens on a free port that changes from run to run.
So the files are recorded, and resumed, with the client talking to one
fixed origin, :data:`BASE_URL` (nothing listens there): the client's
aiohttp session resolves that host to wherever the fake server really is.
The fake server builds its ``next`` links from the ``Host`` header, so
every URL it hands out stays on :data:`BASE_URL` too.

Paths in a shard plan are the ``out`` the export was given, so the files are
recorded (and resumed) from inside their directory with relative names.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from accutics_async import AccuticsClient
from accutics_async.testing import FakeAccuticsServer

#: Where the recorded files live (checked in; the tests only read them).
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
#: The origin every recorded fingerprint and URL is for; never connected to as such.
BASE_URL = "http://localhost:8000/v1"
#: The fake server's dataset when the files were recorded.
RECORDS = 40
SEED = 7
PAGE = 5
#: Listing styles: page numbers with ``next`` links, and ``next_cursor``.
STYLES = {"page": "/records", "cursor": "/stream/records"}
SHARDS = 4
#: The export of ``/records`` recorded with every part of a query a fingerprint covers,
#: in spellings it normalises (an operator alias, a sort list, unsorted and repeated
#: and boolean parameters).
QUERY: dict[str, Any] = {
    "search": "input_medium:!=:email",
    "sort": ["input_source", "-created_at"],
    "params": {"zeta": "1", "alpha": ["b", "a"], "flag": True},
    "page_size": 4,
}


class _ToServer(AbstractResolver):
    """Resolves every host to the fake server's real address and port."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self._port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to release."""


def fake_server() -> FakeAccuticsServer:
    """The fake server of the recording (start it with ``async with``)."""
    return FakeAccuticsServer(records=RECORDS, seed=SEED)


@asynccontextmanager
async def recorded_client(
    server: FakeAccuticsServer, **kwargs: Any
) -> AsyncIterator[AccuticsClient]:
    """A client for :data:`BASE_URL` whose connections go to ``server``."""
    connector = aiohttp.TCPConnector(resolver=_ToServer(server.port), use_dns_cache=False)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        AccuticsClient(token=server.token, base_url=BASE_URL, session=session, **kwargs) as client,
    ):
        yield client
