"""The fake server in a process of its own, for the server probe.

``python -m benchmarks.probe RECORDS`` runs ``FakeAccuticsServer`` (cached
pages and all) and prints one JSON line with its base URL and token.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator

import orjson

from accutics_async.testing import FakeAccuticsServer, serve_forever


@contextlib.contextmanager
def fake_server(records: int) -> Iterator[tuple[str, str, int]]:
    """Start the fake server in a subprocess; yield ``(base_url, token, pid)``."""
    from .runner import ROOT, _env

    cmd = [sys.executable, "-m", "benchmarks.probe", str(records)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = orjson.loads(proc.stdout.readline() or "null")
        if not ready:
            raise RuntimeError("the fake server did not start")
        yield ready["base_url"], ready["token"], proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _ready(server: FakeAccuticsServer) -> None:
    line = orjson.dumps({"base_url": server.base_url, "token": server.token})
    sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(records=int(sys.argv[1]), seed=1, on_ready=_ready))


if __name__ == "__main__":
    main()
