"""The public signatures are checked by mypy as a user's code would be.

Keyword arguments are spelt out (no ``**kwargs: Any``), so a typo such as
``paramz=`` is a type error, not a run-time surprise.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_CODE = textwrap.dedent(
    """
    from accutics_async import AccuticsClient, Timeout

    async def main(client: AccuticsClient) -> None:
        await client.get("records", paramz={"page": 1})                # error
        await client.get("records", timeout="3")                       # error
        await client.post("records", json={"a": 1}, deadline=2.0)
        await client.get("records", timeout=Timeout(total=5, sock_read=2))
        async for record in client.paginate("records", page_sise=10):  # error
            pass
        response = await client.get("records")
        text: str = response.data                                      # error
    """
)


def _check(code: str, tmp_path: Path) -> None:
    """mypy --strict flags exactly the lines of ``code`` marked ``# error``."""
    source = tmp_path / "user_code.py"
    source.write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    flagged = {int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line}
    marked = {n for n, line in enumerate(code.splitlines(), 1) if line.endswith("# error")}
    assert marked
    assert flagged == marked, result.stdout


def test_misspelt_or_mistyped_arguments_are_type_errors(tmp_path: Path) -> None:
    _check(USER_CODE, tmp_path)


HOOK_CODE = textwrap.dedent(
    """
    from accutics_async import AccuticsClient, PageEvent, RetryEvent

    def on_page(event: PageEvent) -> None:
        print(event.number, event.items)

    async def on_retry(event: RetryEvent) -> None:
        print(event.cause)

    AccuticsClient("t", event_hooks={"page": [on_page], "retry": [on_retry]})
    AccuticsClient("t", event_hooks={"page": [lambda e: print(e.items)]})
    AccuticsClient("t", event_hooks={"page": [on_retry]})               # error
    AccuticsClient("t", event_hooks={"pages": [on_page]})               # error
    AccuticsClient("t", event_hooks={"page": [lambda e: e.itemz]})      # error
    """
)


def test_event_hooks_are_checked_per_event_name(tmp_path: Path) -> None:
    _check(HOOK_CODE, tmp_path)
