"""The installed ``accutics`` script in a subprocess, as a user runs it (for the CLI tests)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Mapping

import attrs

from accutics_async.testing import FakeAccuticsServer


def accutics_script() -> str:
    """The ``accutics`` script installed beside this interpreter (this venv's)."""
    script = shutil.which("accutics", path=os.path.dirname(sys.executable))
    assert script is not None, "the accutics script is installed with the package"
    return script


def server_env(server: FakeAccuticsServer) -> dict[str, str]:
    """The environment that points ``accutics`` at ``server``."""
    return {"ACCUTICS_TOKEN": server.token, "ACCUTICS_BASE_URL": server.base_url}


@attrs.frozen
class CliRun:
    code: int
    stdout: str
    stderr: str


async def run_accutics(
    *argv: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> CliRun:
    """Run ``accutics *argv`` with ``env`` over a clean environment; its exit code and output.

    ``timeout`` only guards against a hang (the process is killed and the
    test fails); no test depends on how long a run takes.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACCUTICS_")}
    proc = await asyncio.create_subprocess_exec(
        accutics_script(),
        *argv,
        env={**base, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()
        raise AssertionError(f"accutics {' '.join(argv)} did not end within {timeout} s") from None
    assert proc.returncode is not None
    return CliRun(proc.returncode, stdout.decode(), stderr.decode())
