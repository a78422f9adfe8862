"""The one loopback server helper every test directory shares.

Importable as ``loopback_support`` from any test module: pytest puts this
directory on ``sys.path`` for ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve_app(app: web.Application, *, shutdown: float = 0.5) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port); yield its origin ``http://127.0.0.1:PORT``.

    Handlers still running at the end (slow drips, endless streams) are
    cancelled after ``shutdown`` seconds.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
