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
        await client.get("records", paramz={"page": 1})                # line 5
        await client.get("records", timeout="3")                       # line 6
        await client.post("records", json={"a": 1}, deadline=2.0)
        await client.get("records", timeout=Timeout(total=5, sock_read=2))
        async for record in client.paginate("records", page_sise=10):  # line 9
            pass
        response = await client.get("records")
        text: str = response.data                                      # line 12
    """
)


def test_misspelt_or_mistyped_arguments_are_type_errors(tmp_path: Path) -> None:
    source = tmp_path / "user_code.py"
    source.write_text(USER_CODE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    lines_with_errors = {
        int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line
    }
    assert lines_with_errors == {5, 6, 9, 12}, result.stdout
