"""Sessions: tests, lint, typecheck, bench. `nox -l` lists them."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite with warnings as errors (slow soak tests included)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-W", "error", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
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
