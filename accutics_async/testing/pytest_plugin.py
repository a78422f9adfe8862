"""pytest plugin: a running fake Accutics server in one fixture.

Registered through the ``pytest11`` entry point, so it loads in every pytest
run once accutics_async is installed; importing it is cheap (the server is
imported when a fixture is first used).

::

    async def test_export(accutics_server):
        async with AccuticsClient(token=accutics_server.token,
                                  base_url=accutics_server.base_url) as client:
            ...

    async def test_flaky(accutics_server_factory):
        server = await accutics_server_factory(records=50, faults="503=0.2")

    def test_fails_fast(accutics_no_retries):
        ...  # every AccuticsClient makes exactly one attempt per call

``accutics_server`` is a started ``FakeAccuticsServer`` with 250 records,
seed 1. ``accutics_server_factory(**kwargs)`` starts one with any
``FakeAccuticsServer`` arguments; each is stopped after the test. Both are
async fixtures and need pytest-asyncio (any mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._server import FakeAccuticsServer

__all__ = ["accutics_no_retries", "accutics_server", "accutics_server_factory"]

ServerFactory = Callable[..., Awaitable["FakeAccuticsServer"]]
_NEED = (
    "the accutics_server fixtures are async and need pytest-asyncio: "
    "pip install pytest-asyncio (or accutics-async[test])"
)


def _async_fixture(func: Callable[[], AsyncIterator[Any]]) -> Any:
    # pytest-asyncio is a test dependency, not a runtime one: without it the
    # fixtures still exist and fail with a clear message when used.
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio

        def unavailable() -> None:
            pytest.fail(_NEED, pytrace=False)

        unavailable.__name__, unavailable.__doc__ = func.__name__, func.__doc__
        return pytest.fixture(unavailable)
    return pytest_asyncio.fixture(func)


@_async_fixture
async def accutics_server_factory() -> AsyncIterator[ServerFactory]:
    """Start fake servers with any ``FakeAccuticsServer`` arguments; stop them after the test."""
    from ._server import FakeAccuticsServer

    started: list[FakeAccuticsServer] = []

    async def start(**kwargs: Any) -> FakeAccuticsServer:
        server = FakeAccuticsServer(**kwargs)
        await server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            await server.stop()


@_async_fixture
async def accutics_server() -> AsyncIterator[FakeAccuticsServer]:
    """A running fake Accutics server: 250 records, seed 1."""
    from ._server import FakeAccuticsServer

    async with FakeAccuticsServer(records=250, seed=1) as server:
        yield server


@pytest.fixture
def accutics_no_retries() -> Iterator[None]:
    """Turn retries off for every client during the test, so failures surface at once."""
    from .. import disable_retries

    with disable_retries():
        yield
