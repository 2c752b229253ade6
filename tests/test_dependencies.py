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
