"""``ssl=`` and ``proxy=`` against real sockets: a private CA and a forwarding proxy."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import trustme

from accutics_async import AccuticsClient, TransportError
from accutics_async.testing import FakeAccuticsServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest_asyncio.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[FakeAccuticsServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with FakeAccuticsServer(records=30, ssl_context=server_context) as server:
        yield server


async def test_a_private_ca_is_trusted_through_an_ssl_context(
    tls_server: FakeAccuticsServer, ca: trustme.CA
) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    assert tls_server.base_url.startswith("https://")
    async with AccuticsClient(tls_server.token, base_url=tls_server.base_url, ssl=trusting) as c:
        records = [r async for r in c.paginate("records", page_size=10)]
    assert len(records) == 30


async def test_an_unknown_ca_fails_as_a_tls_transport_error_without_the_token(
    tls_server: FakeAccuticsServer,
) -> None:
    async with AccuticsClient(tls_server.token, base_url=tls_server.base_url, retry=None) as c:
        with pytest.raises(TransportError) as caught:
            await c.get("records")
    assert caught.value.kind == "tls"
    assert tls_server.token not in repr(caught.value) + str(caught.value)
    assert tls_server.stats.total_requests == 0


class ForwardingProxy:
    """An HTTP forward proxy on loopback that records each request line it relays."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> ForwardingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("ascii")
            self.request_lines.append(line)
            # Absolute form: "GET http://host:port/path HTTP/1.1".
            authority = line.split()[1].split("/")[2]
            host, port = authority.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            # One request per connection keeps the relay simple.
            up_writer.write(head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            await up_writer.drain()
            writer.write(await up_reader.read())
            await writer.drain()
            up_writer.close()
            await up_writer.wait_closed()
        finally:
            writer.close()


async def test_requests_go_through_the_proxy() -> None:
    async with FakeAccuticsServer(records=25) as server, ForwardingProxy() as proxy:
        base_url = server.base_url
        async with AccuticsClient(
            server.token, base_url=server.base_url, proxy=proxy.url
        ) as client:
            records = [r async for r in client.paginate("records", page_size=10)]
    assert len(records) == 25
    assert len(proxy.request_lines) == 3
    assert all(line.startswith(f"GET {base_url}/records?") for line in proxy.request_lines)
    assert server.stats.total_requests == 3


async def test_an_unreachable_proxy_is_a_proxy_transport_error() -> None:
    async with ForwardingProxy() as proxy:
        dead = proxy.url  # nothing listens there once the block ends
    token = "secret-token-for-the-proxy-test"
    async with AccuticsClient(
        token, base_url="http://127.0.0.1:9/v1", proxy=dead, retry=None
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.get("records")
    assert caught.value.kind == "proxy"
    assert token not in repr(caught.value) + str(caught.value)
