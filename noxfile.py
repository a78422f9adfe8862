"""Sessions: tests, lint, typecheck, bench and its variants. `nox -l` lists them."""

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
    """Benchmarks: the library beside raw aiohttp/httpx loops; rewrites benchmarks/README.md."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def bench_goals(session: nox.Session) -> None:
    """Only the four goal figures (adjacent pairs, both record shapes); leaves the README alone."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", "--groups", "pairs", *session.posargs)


@nox.session
def bench_otel(session: nox.Session) -> None:
    """The goal figures and other clients with opentelemetry-api, no SDK (compare with bench)."""
    session.install("-e", ".[bench,otel]")
    # Its own results file: the bench session's results.json stays the full run's.
    session.run(
        "python",
        "-m",
        "benchmarks",
        "--groups",
        "pairs,throughput",
        "--out",
        "benchmarks/results-otel.json",
        *session.posargs,
    )


@nox.session
def bench_rate_limits(session: nox.Session) -> None:
    """Walking 300 pages against the fake server's limit=40/s: pace and 429 share per mode."""
    session.install("-e", ".")
    session.run("python", "-m", "benchmarks.rate_limits", *session.posargs)


@nox.session
def bench_dask(session: nox.Session) -> None:
    """A sharded export on 1, 2 and 4 Dask workers against a 20 ms fake server."""
    session.install("-e", ".[dask]")
    session.run("python", "-m", "benchmarks.dask_scaling", *session.posargs)
