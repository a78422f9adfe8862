"""The package's layers, kept honest by reading its source (no imports, no I/O).

- No import cycle between the package's modules, type-only imports included.
- The sans-I/O core (``accutics_async._sansio``) imports neither aiohttp nor
  asyncio, nor any module of the package outside it except ``errors``.
- No module imports another's private names, or reaches into a private
  attribute of an object or module other than its own (``self``/``cls``).
- Every module has an ``__all__``; what one module imports from another is
  in that one's ``__all__``, and what an ``__all__`` lists is defined there
  and used somewhere (another module, the tests, or the public API).
- No module over 450 lines, no function over cyclomatic complexity 15.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "accutics_async"
CORE = "accutics_async._sansio"
MAX_LINES = 450
MAX_COMPLEXITY = 15


@cache
def modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def _is_package(name: str) -> bool:
    return modules()[name][0].name == "__init__.py"


def _target(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """``(module imported, name taken from it or None, line)`` for every import in ``module``."""
    for node in ast.walk(modules()[module][1]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _target(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in modules():
                    yield f"{target}.{alias.name}", None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in modules():
        for target, _, _ in imports(module):
            if target in modules() and target != module:
                graph[module].add(target)
    return graph


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(modules()):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in modules() if m.startswith(CORE)))
def test_the_core_does_no_io(module: str) -> None:
    outside = []
    for target, _, line in imports(module):
        top = target.split(".")[0]
        in_package = target.startswith("accutics_async")
        if top in ("aiohttp", "asyncio") or (
            in_package and not target.startswith(CORE) and target != "accutics_async.errors"
        ):
            outside.append(f"line {line}: {target}")
    assert outside == []


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_private_names() -> None:
    found = [
        f"{module}:{line} takes {name} from {target}"
        for module in modules()
        for target, name, line in imports(module)
        if name is not None and _private(name) and target.startswith("accutics_async")
    ]
    assert found == []


@cache
def _own_private_names() -> frozenset[str]:
    """Private names the package defines: attributes, functions, classes, module globals."""
    names: set[str] = set()
    for _, tree in modules().values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(name for name in names if _private(name))


def test_no_reach_into_private_attributes() -> None:
    # Only the package's own private names: a stdlib one such as a named
    # tuple's documented ``_replace`` is an API, not a reach-in.
    own = _own_private_names()
    found = []
    for module, (_, tree) in modules().items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr in own):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    assert found == []


def _all(module: str) -> list[str] | None:
    for node in modules()[module][1].body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            names = ast.literal_eval(value)
            assert isinstance(names, list)
            return names
    return None


def _defined(module: str) -> set[str] | None:
    """The names ``module`` binds at its top level (``None``: it has a module ``__getattr__``)."""
    names: set[str] = set()
    for statement in modules()[module][1].body:
        for node in ast.walk(statement):  # `try:`/`if TYPE_CHECKING:` blocks too
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return None if "__getattr__" in names else names


def _from_imports(tree: ast.Module, module: str | None) -> Iterator[tuple[str, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _target(module, node) if module else (node.module or "")
            for alias in node.names:
                if f"{target}.{alias.name}" not in modules():  # not a submodule
                    yield target, alias.name


def _attribute_uses(tree: ast.Module) -> set[str]:
    # `checks.check_path`, `_telemetry.TELEMETRY`: a module's names used through it.
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }


def test_every_module_has_an_all_that_matches_its_use() -> None:
    by_package: dict[str, set[str]] = defaultdict(set)  # what modules import from each other
    anywhere: dict[str, set[str]] = defaultdict(set)  # ... and what the tests use too
    through: set[str] = set()  # names used as `module.name`
    for module, (_, tree) in modules().items():
        for target, name in _from_imports(tree, module):
            by_package[target].add(name)
            anywhere[target].add(name)
        through |= _attribute_uses(tree)
    for path in [*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, name in _from_imports(tree, None):
            anywhere[target].add(name)
        through |= _attribute_uses(tree)
    problems = []
    for module in modules():
        if module.endswith("__main__"):
            continue
        listed = _all(module)
        if listed is None:
            problems.append(f"{module}: no __all__")
            continue
        defined = _defined(module)
        private = any(part.startswith("_") for part in module.split("."))
        checks = {
            "lists what it does not define": set() if defined is None else set(listed) - defined,
            "is imported from, but does not list": by_package[module] - set(listed) - {"*"},
            # A private module's __all__ is what the rest of the package uses of it.
            "lists what nothing uses": (
                {n for n in listed if n not in anywhere[module] and n not in through}
                if private
                else set()
            ),
        }
        problems += [f"{module} {what}: {sorted(names)}" for what, names in checks.items() if names]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_and_functions_stay_small(module: str) -> None:
    path, _ = modules()[module]
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_LINES, f"{module} has {source.count(chr(10))} lines"
    complex_ = [
        f"{block.fullname} ({block.complexity})"
        for block in cc_visit(source)  # functions and methods, each once
        if isinstance(block, Function) and block.complexity > MAX_COMPLEXITY
    ]
    assert complex_ == []
