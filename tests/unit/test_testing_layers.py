"""The fake server's package keeps its layers honest, checked from the source.

- It is an independent oracle: no module of ``accutics_async.testing``
  imports the client's modules (type-only imports included), so a client
  bug cannot hide behind shared code.
- Each private module's ``__all__`` is exactly what other modules import
  from it: nothing imported from it is missing, nothing listed is unused.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import accutics_async.testing as testing

PACKAGE = Path(testing.__file__).resolve().parent
ROOT = PACKAGE.parents[1]
# What the fake may take from the client: the pytest plugin's fixture turns
# the *user's* client retries off, a client feature, not a reading of the API.
ALLOWED_FROM_CLIENT = {("accutics_async", "disable_retries")}
# Public faces, used by name rather than imported: the package re-exports
# lazily, pytest finds the plugin's fixtures by name.
PUBLIC = {"__init__", "pytest_plugin"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(module, name)`` for every import in ``path``, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                yield module, alias.name


def source_files() -> list[Path]:
    files = []
    for top in ("accutics_async", "tests", "benchmarks"):
        files += sorted((ROOT / top).rglob("*.py"))
    return files


def test_the_import_resolver_reads_relative_imports() -> None:
    # Guards the checks below against a resolver that finds nothing.
    found = set(imports(PACKAGE / "_store.py"))
    assert ("accutics_async.testing._query", "compile_search") in found
    assert ("accutics_async.testing._data", "SPACING") in found


def test_the_fake_server_imports_nothing_of_the_client() -> None:
    offending = []
    for path in sorted(PACKAGE.glob("*.py")):
        for module, name in imports(path):
            inside = module == "accutics_async.testing" or module.startswith(
                "accutics_async.testing."
            )
            client = module == "accutics_async" or module.startswith("accutics_async.")
            if client and not inside and (module, name) not in ALLOWED_FROM_CLIENT:
                offending.append(f"{path.name}: from {module} import {name}")
    assert offending == []


def private_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in PUBLIC)


def declared_all(stem: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{stem}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{stem} has no __all__")


@pytest.fixture(scope="module")
def imported_names() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {stem: set() for stem in private_modules()}
    for path in source_files():
        for module, name in imports(path):
            stem = module.removeprefix("accutics_async.testing.")
            if module.startswith("accutics_async.testing.") and stem in used:
                used[stem].add(name)
    return used


@pytest.mark.parametrize("stem", private_modules())
def test_each_module_exports_exactly_what_others_import(
    stem: str, imported_names: dict[str, set[str]]
) -> None:
    assert declared_all(stem) == imported_names[stem]
