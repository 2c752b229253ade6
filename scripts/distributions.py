"""The distributions this repository publishes, read from their pyproject.toml files.

One place that knows where our packages live (the root is f2g-core; every ``f2g_plugins/*/pyproject.toml`` is a
plugin or a shared package), so the wheel scripts and the packaging tests pick up a new package without edits.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Distribution:
    """One publishable package: its folder, its parsed pyproject and its single version source."""

    path: Path
    pyproject: dict

    @property
    def name(self) -> str:
        return str(self.pyproject["project"]["name"])

    @property
    def version_attr(self) -> str | None:
        """``module.__version__`` when the version is dynamic (our convention), else None."""
        dynamic = self.pyproject.get("tool", {}).get("setuptools", {}).get("dynamic", {})
        return dynamic.get("version", {}).get("attr")

    @property
    def version_file(self) -> Path | None:
        """The module file holding ``__version__`` (the one version source), when dynamic."""
        if not self.version_attr:
            return None
        module = self.version_attr.rsplit(".", 1)[0]
        return self.path / Path(*module.split(".")) / "__init__.py"

    @property
    def version(self) -> str:
        """The version, read statically (no import), from the one place it is written."""
        static = self.pyproject["project"].get("version")
        if static:
            return str(static)
        if self.version_file is None:
            raise ValueError(f"{self.path}/pyproject.toml: no version and no tool.setuptools.dynamic.version.attr")
        for node in ast.parse(self.version_file.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
                return str(ast.literal_eval(node.value))
        raise ValueError(f"{self.version_file}: no literal __version__ = '...'")

    def requirements(self) -> list[str]:
        """Runtime requirements (``project.dependencies``)."""
        return list(self.pyproject["project"].get("dependencies", []))


def distributions() -> list[Distribution]:
    """f2g-core first, then every package under f2g_plugins/ in name order."""
    paths = [ROOT, *sorted(p.parent for p in ROOT.glob("f2g_plugins/*/pyproject.toml"))]
    return [Distribution(path, tomllib.loads((path / "pyproject.toml").read_text())) for path in paths]


def requirement_name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement string."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if name is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()
