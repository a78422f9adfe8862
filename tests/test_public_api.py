"""The package's public surface: ``__all__`` stays honest and the contract names exist."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import inspect
import subprocess
import sys
import types

import pytest

import accutics_async

# Every name DESIGN.md's contract promises at the top level.
CONTRACT = [
    "AccuticsClient",
    "Response",
    "Meta",
    "PageNumberPagination",
    "CursorPagination",
    "AsyncPager",
    "Page",
    "Record",
    "F",
    "Search",
    "RetryPolicy",
    "AccuticsError",
    "ConfigurationError",
    "SearchSyntaxError",
    "UnsafeURLError",
    "PaginationError",
    "TransportError",
    "DecodeError",
    "APIError",
    "BadRequestError",
    "InvalidRouteError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
]


def public_names() -> set[str]:
    return {
        name
        for name in dir(accutics_async)
        if not name.startswith("_")
        and not isinstance(getattr(accutics_async, name), types.ModuleType)
    } | {"__version__"}


def test_all_equals_the_public_names() -> None:
    assert sorted(accutics_async.__all__) == sorted(public_names())


def test_all_has_no_duplicates() -> None:
    assert len(accutics_async.__all__) == len(set(accutics_async.__all__))


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_names_import_from_the_top_level(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from accutics_async import {name}", namespace)
    assert namespace[name] is getattr(accutics_async, name)
    assert name in accutics_async.__all__


def test_exceptions_are_exceptions() -> None:
    for name in CONTRACT:
        obj = getattr(accutics_async, name)
        if name.endswith("Error"):
            assert inspect.isclass(obj)
            assert issubclass(obj, accutics_async.AccuticsError)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from accutics_async import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(accutics_async.__all__)


def test_version() -> None:
    version = accutics_async.__version__
    assert isinstance(version, str)
    assert version[0].isdigit()
    assert importlib.metadata.version("accutics-async") == version


def test_py_typed_ships() -> None:
    marker = importlib.resources.files("accutics_async").joinpath("py.typed")
    assert marker.is_file()


def test_tenacity_does_not_leak() -> None:
    # STYLE.md: RetryPolicy is ours; tenacity stays inside _retry.py.
    for name in accutics_async.__all__:
        module = getattr(getattr(accutics_async, name), "__module__", "") or ""
        assert not module.startswith(("tenacity", "aiohttp", "cattrs")), name


def test_importing_the_package_leaves_tenacity_for_the_first_retry() -> None:
    # A fresh interpreter: this one has long imported tenacity for other tests.
    code = "import sys, accutics_async; print('tenacity' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_sync_package_exports_its_contract() -> None:
    import accutics_async.sync as sync_package

    assert sorted(sync_package.__all__) == ["DEFAULT_LOOKBACK", "SyncResult", "sync"]
    assert issubclass(accutics_async.SyncError, accutics_async.ExportError)
