"""f2g-core declares every third-party module it imports, and imports no plugin or shared plugin package."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "f2g_core"


def imported_modules() -> dict[str, set[str]]:
    """Top-level absolute imports of every f2g_core module (also those inside functions) → where they occur."""
    found: dict[str, set[str]] = {}
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """Distributions in pyproject.toml's dependencies and optional extras (read from source, not stale metadata)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    names = (re.match(r"[A-Za-z0-9._-]+", requirement) for requirement in requirements)
    return {normalise(match[0]) for match in names if match}


def test_every_third_party_import_is_declared() -> None:
    distributions = importlib.metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, where in imported_modules().items():
        if module in sys.stdlib_module_names or module == "f2g_core":
            continue
        provided_by = {normalise(d) for d in distributions.get(module, [module])}
        if not provided_by & declared:
            undeclared[module] = sorted(where)
    assert not undeclared, f"f2g_core imports modules pyproject.toml does not declare: {undeclared}"


def test_core_imports_no_plugin_package() -> None:
    plugins = {module: where for module, where in imported_modules().items() if module.startswith("f2g_")}
    plugins.pop("f2g_core", None)
    assert not plugins, f"f2g_core imports plugin packages (dependencies must point down): {plugins}"


def test_the_core_leaves_evals_dependencies_to_f2g_eval() -> None:
    """``pip install f2g-core`` stays small: what only ``f2g eval`` needs (the store's file lock, the report's plots,
    Ray) is a dependency of f2g-eval, not of the core."""
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    core = {normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in runtime}  # type: ignore[index]
    evaluation = tomllib.loads((ROOT / "f2g_plugins" / "eval" / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [*evaluation["project"]["dependencies"], *evaluation["project"]["optional-dependencies"]["ray"]]
    only_eval = {normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in requirements} - {"f2g-core", "numpy"}  # type: ignore[index]
    assert {"filelock", "matplotlib", "ray"} <= only_eval
    shared = {"pydantic", "pyyaml", "typer", "rich", "imageio"}  # the core's own needs too
    assert not (only_eval - shared) & core, f"f2g-core declares eval-only dependencies: {(only_eval - shared) & core}"
