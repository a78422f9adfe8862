"""README examples run as written: the POST body the fake server accepts, the pytest snippet."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from accutics_async import AccuticsClient
from accutics_async.testing import FakeAccuticsServer

README = Path(__file__).parents[2] / "README.md"
N = 5


def readme() -> str:
    return README.read_text(encoding="utf-8")


def python_block_after(text: str, marker: str) -> str:
    start = text.index(marker)
    block = text.index("```python\n", start) + len("```python\n")
    return text[block : text.index("```", block)]


async def test_the_readme_post_example_is_accepted(server: FakeAccuticsServer) -> None:
    found = re.search(r'client\.post\(\s*"/records",\s*json=(\{.*?\}),?\s*\)', readme(), re.S)
    assert found is not None, "the README shows a POST"
    body: dict[str, Any] = ast.literal_eval(found.group(1))
    async with AccuticsClient(token=server.token, base_url=server.base_url) as client:
        created = await client.post("/records", json=body)
        assert created.status == 201
        assert isinstance(created.data, dict)
        record = (await client.get(("records", str(created.data["id"])))).data
    assert isinstance(record, dict)
    assert {k: record[k] for k in body} == body


async def test_the_readme_pytest_snippet_passes_in_strict_mode(tmp_path: Path) -> None:
    snippet = python_block_after(readme(), "Installing the package registers a pytest plugin")
    (tmp_path / "test_snippet.py").write_text(snippet, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ACCUTICS_"))}
    # Strict is pytest-asyncio's default; said explicitly so no config file can change it.
    argv = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=strict"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        "test_snippet.py",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode()
    assert "2 passed" in output.decode()
