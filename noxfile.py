"""Sessions: tests, lint, typecheck, bench. `nox -l` lists them."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# Every CPython the package claims (pyproject classifiers, requires-python).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# The lint session installs the same ruff as the test extra pins.
RUFF = "ruff==0.17.6"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite with warnings as errors (slow soak tests included)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-W", "error", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[test]")
    session.run("mypy", "--strict", "accutics_async")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: the library side by side with raw aiohttp/httpx loops, as ratios."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
