"""Every distribution stands alone: metadata, one version source, bounds between our packages, wheels that build.

The distributions are discovered from the pyproject files (scripts/distributions.py), so a new package under
f2g_plugins/ is checked without editing this file.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("f2g_distributions", ROOT / "scripts" / "distributions.py")
assert _spec is not None and _spec.loader is not None
distributions_module = importlib.util.module_from_spec(_spec)
sys.modules["f2g_distributions"] = distributions_module
_spec.loader.exec_module(distributions_module)
DISTRIBUTIONS = distributions_module.distributions()
BY_NAME = {d.name: d for d in DISTRIBUTIONS}
FLOOR = "3.11"  # asyncio.Runner and tomllib are used by the code (see test_python_floor_is_real)
ids = [d.name for d in DISTRIBUTIONS]


def test_the_distributions_are_found() -> None:
    assert ids[0] == "f2g-core"
    assert {"f2g-plugin-shapes", "f2g-plugin-openai"} <= set(ids)


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=ids)
def test_metadata(dist) -> None:
    project = dist.pyproject["project"]
    assert project["requires-python"] == f">={FLOOR}", f"{dist.name}: requires-python must be >={FLOOR}"
    assert project["license"] == "Apache-2.0"
    assert project.get("license-files") == ["LICENSE"], f"{dist.name}: add license-files = ['LICENSE']"
    assert (dist.path / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes(), f"{dist.name}: LICENSE differs"
    assert project.get("readme") == "README.md" and (dist.path / "README.md").is_file()
    assert project.get("description"), f"{dist.name}: no description"
    changelog = (dist.path / "CHANGELOG.md").read_text()
    assert f"## {dist.version}" in changelog, f"{dist.path}/CHANGELOG.md has no section for {dist.version}"
    requires = dist.pyproject["build-system"]["requires"]
    assert any(
        Requirement(r).name == "setuptools" and Version("77") in SpecifierSet(str(Requirement(r).specifier))
        for r in requires
    ), "SPDX `license` strings and license-files need setuptools>=77"
    assert not any(Version("76") in Requirement(r).specifier for r in requires if Requirement(r).name == "setuptools")


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=ids)
def test_one_version_source(dist) -> None:
    """The version is written once, as ``__version__`` in the package; pyproject reads it (dynamic)."""
    assert "version" not in dist.pyproject["project"], f"{dist.name}: drop the static version; read __version__"
    assert "version" in dist.pyproject["project"].get("dynamic", []), f"{dist.name}: dynamic = ['version']"
    assert dist.version_file is not None and dist.version_file.is_file(), f"{dist.name}: version attr not found"
    Version(dist.version)
    package = dist.version_file.parent
    literal = re.compile(r"""(?m)^\s*(__version__|VERSION)\s*=\s*["']\d""")
    others = [p for p in package.rglob("*.py") if p != dist.version_file and literal.search(p.read_text())]
    assert not others, f"{dist.name}: a second version literal in {others}"


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=ids)
def test_bounds_between_our_packages(dist) -> None:
    """A dependency on one of our packages is bounded to its current minor series: >=0.M,<0.(M+1)."""
    for text in dist.requirements():
        requirement = Requirement(text)
        target = BY_NAME.get(requirement.name)
        if target is None:
            continue
        current = Version(target.version)
        lower = f"{current.major}.{current.minor}"
        upper = f"{current.major}.{current.minor + 1}" if current.major == 0 else f"{current.major + 1}"
        assert requirement.specifier == SpecifierSet(f">={lower},<{upper}"), (
            f"{dist.name}: requires {text!r}; declare {requirement.name}>={lower},<{upper}"
        )
        assert current in requirement.specifier


def test_python_floor_is_real() -> None:
    """pyproject's floor, ruff's target and mypy's python_version agree, and the code does use 3.11 features."""
    for dist in DISTRIBUTIONS:
        tool = dist.pyproject.get("tool", {})
        if "ruff" in tool:
            assert tool["ruff"]["target-version"] == "py" + FLOOR.replace(".", ""), f"{dist.name}: ruff target"
        if "mypy" in tool:
            assert str(tool["mypy"]["python_version"]) == FLOOR, f"{dist.name}: mypy python_version"
    code = "\n".join(p.read_text() for p in (ROOT / "f2g_core").rglob("*.py"))
    assert "tomllib" in code, "f2g_core no longer needs 3.11: lower the floor (and ruff/mypy targets) deliberately"
    assert "tomli" not in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_every_distribution_builds_and_passes_twine(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="building needs the dev install (build, twine)")
    """sdist and wheel of every package, wheel built from the sdist, ``twine check --strict`` clean."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_wheels.py"), "--no-isolation", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for dist in DISTRIBUTIONS:
        stem = f"{dist.name.replace('-', '_')}-{dist.version}"
        assert (tmp_path / f"{stem}.tar.gz").is_file() and (tmp_path / f"{stem}-py3-none-any.whl").is_file()
    assert done.stdout.count("PASSED") == 2 * len(DISTRIBUTIONS)


@pytest.mark.heavy
def test_wheel_only_install_runs_the_plugin_tests(tmp_path: Path) -> None:
    """f2g-core + f2g-plugin-shapes from their wheels into a fresh venv; the plugin's tests pass there."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_wheels.py"), "--no-isolation", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "wheel-only install ok" in done.stdout and " passed" in done.stdout
