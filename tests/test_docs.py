"""The README stays short and starts with the Quickstart; every documentation link resolves.

The README is the front page: at most 300 lines, its first two command lines
the Quickstart's (which CI runs), and the details one link away in
``docs/``, ``benchmarks/README.md`` and ``tests/reliability/README.md``. A
moved section must not leave a dead link or an orphan page behind.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICKSTART = [
    'pip install ".[cli]" && accutics demo',
    'pip install -e ".[test]" && python -m pytest -W error',
]
PAGES = [
    README,
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
    ROOT / "tests" / "reliability" / "README.md",
]
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```$", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def command_lines(markdown: str) -> list[str]:
    """Every non-empty, non-comment line of every fenced block, in order."""
    lines = []
    for block in FENCE.findall(markdown):
        lines += [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    return lines


def anchors(markdown: str) -> set[str]:
    """GitHub's ids for a page's headings (code blocks skipped: `# comment` is no heading)."""
    prose = FENCE.sub("", markdown)
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_readme_is_at_most_300_lines() -> None:
    assert len(text(README).splitlines()) <= 300


def test_the_readme_opens_with_the_quickstart_and_its_two_exact_lines() -> None:
    readme = text(README)
    assert re.findall(r"^## .+$", readme, re.M)[0] == "## Quickstart"
    first_block = FENCE.search(readme)
    assert first_block is not None
    assert first_block.group(1).splitlines() == QUICKSTART
    assert command_lines(readme)[:2] == QUICKSTART


def test_ci_runs_the_readme_test_command_under_coverage_with_its_floor() -> None:
    install, test_command = QUICKSTART[1].split(" && ")
    assert install == 'pip install -e ".[test]"'
    ci = text(ROOT / ".ci" / "run").replace("\\\n", " ")  # continuation lines joined
    suite = [ln.strip() for ln in ci.splitlines() if ln.strip().startswith("python -m pytest")]
    assert len(suite) == 1, suite  # the full 3.11 suite; the other Pythons use their venvs' path
    # The README's command, word for word, then only options that add to it.
    words = [w for w in shlex.split(suite[0].split("|")[0]) if not re.match(r"\d*>", w)]
    command = test_command.split()
    assert words[: len(command)] == command
    added = words[len(command) :]
    assert all(word.startswith(("-", "no:")) for word in added), added
    # Never a subset of the suite: no marker or keyword selection.
    assert "-m" not in added
    assert "-k" not in added
    assert '-e ".[test]"' in ci
    # Measured, with the floor pyproject.toml sets (not one lowered on the command line).
    assert "--cov=accutics_async" in added
    assert not [word for word in added if word.startswith("--cov-fail-under")]
    config = text(ROOT / "pyproject.toml")
    coverage = config[config.index("[tool.coverage.run]") :]
    assert re.search(r"^branch = true$", coverage, re.M)
    assert re.search(r'^patch = \["subprocess"\]$', coverage, re.M)
    floor = re.search(r"^fail_under = (\d+)$", coverage, re.M)
    assert floor is not None
    assert int(floor.group(1)) >= 85


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in LINK.findall(text(page)):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL: not ours to check offline
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.is_file(), f"{page.name}: {target} -> {linked}"
        if anchor:
            assert anchor in anchors(text(linked)), f"{page.name}: {target}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(text(README))}
    pages = set((ROOT / "docs").glob("*.md")) | {PAGES[-2], PAGES[-1]}
    assert {p.resolve() for p in pages} <= linked


def test_the_reliability_report_names_every_file_of_its_directory() -> None:
    folder = ROOT / "tests" / "reliability"
    report = text(folder / "README.md")
    named = set(re.findall(r"`([\w/]+\.py)`", report))
    files = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
    assert files <= named
    for name in named:
        assert (folder / name).is_file() or (ROOT / name).is_file(), name
