"""`f2g plugin new` makes packages that install, register, pass their own tests and work from a config.

Each scaffold is built and installed like a user would (a real wheel build, ``pip install --no-deps``), into a
folder put on PYTHONPATH for subprocesses only, so the test venv itself is never changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from f2g_core import __version__
from f2g_core.cli import app
from f2g_core.errors import ConfigError
from f2g_core.scaffold import KINDS, PROJECT_PLUGINS, core_requirement, new_plugin

F2G = [sys.executable, "-c", "from f2g_core.cli import main; main()"]
F2G_CALL = Callable[..., subprocess.CompletedProcess[str]]
"""``f2g_in_process`` (tests/conftest.py): the refusals' messages and exit codes, checked in this process."""


def _run(command: list[str], site: Path, cwd: Path, strict: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "F2G_STRICT_PLUGINS": "1" if strict else "0", "COLUMNS": "250"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _config(kind: str, ident: str, out: Path) -> dict:
    config: dict = {
        "prompt": "a red circle moving left",
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-oracle"}],
        "sampler": {"num_steps": 4},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 2, "num_guided_steps": 1}},
        "output": {"dir": str(out), "formats": ["gif"]},
    }
    if kind in ("reward", "async-reward"):
        config["rewards"] = [{"type": ident}]
    elif kind == "combiner":
        config["rewards"] = [{"type": "shapes-oracle"}, {"type": "shapes-oracle", "weight": 0.5}]
        config["combiner"] = {"type": ident}
    elif kind == "backbone":
        config["backbone"] = {"type": ident, "options": {"frames": 4}}
    else:
        config["guidance"] = {"method": ident, "options": {"num_candidates": 2, "num_guided_steps": 1}}
    return config


@dataclass(frozen=True)
class Scaffolds:
    root: Path
    site: Path
    listing: str


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> Scaffolds:
    """One package of each kind, built and installed together (one pip call), and one `f2g plugins` listing."""
    root = tmp_path_factory.mktemp("scaffolds")
    packages = [new_plugin(f"my-{kind}", kind, root) for kind in KINDS]
    site = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
        + [str(p) for p in packages],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    listing = _run([*F2G, "plugins"], site, root)
    assert listing.returncode == 0, listing.stderr
    return Scaffolds(root, site, listing.stdout)


@pytest.mark.parametrize("kind", list(KINDS))
def test_scaffold_installs_registers_tests_and_runs(kind: str, scaffolds: Scaffolds, tmp_path: Path) -> None:
    ident = f"my-{kind}"
    package = scaffolds.root / ident
    project = tomllib.loads((package / "pyproject.toml").read_text())
    assert project["project"]["dependencies"][0] == core_requirement(__version__)
    assert project["project"]["name"] == f"f2g-contrib-{ident}"
    assert project["project"]["entry-points"]["f2g"] == {ident: f"f2g_contrib_{ident.replace('-', '_')}.plugin"}
    workflow = (package / ".github" / "workflows" / "test.yml").read_text()
    assert "F2G_STRICT_PLUGINS" in workflow and "pytest" in workflow
    for path in package.rglob("*"):
        if path.is_file():
            assert not re.search(r"\{\{\w+\}\}", path.read_text()), f"unfilled placeholder in {path}"

    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], scaffolds.site, package)
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert "skipped" not in tests.stdout

    row = next(line for line in scaffolds.listing.splitlines() if f"f2g-contrib-{ident}" in line)
    assert "0.1.0" in row and " ok " in row, row

    pytest.importorskip("f2g_plugin_shapes", reason="the config run uses the shapes world")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(kind, ident, tmp_path / "runs")))
    run = _run([*F2G, "run", str(config)], scaffolds.site, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert list((tmp_path / "runs").glob("*/trace.json"))


def test_refuses_an_existing_directory_and_invalid_names(tmp_path: Path, f2g_in_process: F2G_CALL) -> None:
    (tmp_path / "taken").mkdir()
    runner = CliRunner()
    cases = {
        "taken": "already exists",
        "My_Sharpness": "lower-case letters",
        "9lives": "starting with a letter",
        "double--hyphen": "single hyphens",
    }
    for name, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            new_plugin(name, "reward", tmp_path)
        done = f2g_in_process("plugin", "new", name, "--dir", str(tmp_path))
        assert done.returncode == 2 and message in done.stderr, done.stderr
    wrong_kind = f2g_in_process("plugin", "new", "fine", "--kind", "nope", "--dir", str(tmp_path))
    assert wrong_kind.returncode == 2 and "--kind 'nope': choose one of" in wrong_kind.stderr, wrong_kind.stderr
    assert runner.invoke(app, ["plugin", "new", "--bogus"]).exit_code == 2  # typer's own usage error
    assert not (tmp_path / "fine").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_project_plugins_lists_every_package_of_this_repository() -> None:
    root = Path(__file__).resolve().parents[1] / "f2g_plugins"
    if not root.is_dir():
        pytest.skip("needs the repository checkout")
    names = {
        re.sub(r"^f2g-(plugin-)?", "", tomllib.loads(path.read_text())["project"]["name"])
        for path in root.glob("*/pyproject.toml")
    }
    assert names == set(PROJECT_PLUGINS)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("clip", "'clip' is the name of one of the f2g project's own plugins"),
        ("shapes", "'shapes' is the name of one of the f2g project's own plugins"),
        ("f2g-contrib-clip", "'clip' is the name of one of the f2g project's own plugins"),
        ("pytest", "a distribution named 'pytest' is already installed"),
        ("a" + "b" * 299, "at most 64 characters, not 300"),
    ],
)
def test_refuses_a_name_that_is_taken_or_too_long(
    tmp_path: Path, name: str, message: str, f2g_in_process: F2G_CALL
) -> None:
    done = f2g_in_process("plugin", "new", name, "--dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "unexpected" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_refuses_an_installed_plugins_entry_point_name(tmp_path: Path, f2g_in_process: F2G_CALL) -> None:
    from f2g_core.testing import install_fake_distribution

    site = tmp_path / "site"
    install_fake_distribution(site, "someone-elses-sharpness", "1.0", "sharpie = somewhere.plugin")
    done = f2g_in_process("plugin", "new", "sharpie", "--dir", str(tmp_path), env={"PYTHONPATH": str(site)})
    assert done.returncode == 2 and "'someone-elses-sharpness' already uses it" in done.stderr, done.stderr


@pytest.mark.parametrize("directory", ["file", "file/below", "long", "unwritable"])
def test_a_hostile_dir_is_one_clear_error(tmp_path: Path, directory: str, f2g_in_process: F2G_CALL) -> None:
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "unwritable").mkdir(mode=0o500)
    paths = {"long": tmp_path / ("d" * 300)}
    where = paths.get(directory, tmp_path / directory)
    if directory == "unwritable" and os.access(where, os.W_OK):
        pytest.skip("running as a user who can write anywhere (root)")
    done = f2g_in_process("plugin", "new", "fine", "--dir", str(where))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --dir ") and "unexpected" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "fine").exists()


def test_core_requirement_follows_the_compatibility_policy() -> None:
    assert core_requirement("0.2.0") == "f2g-core>=0.2,<0.3"
    assert core_requirement("0.10.3") == "f2g-core>=0.10,<0.11"
    assert core_requirement("1.4.0") == "f2g-core>=1.4,<2"


def test_the_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="building needs the dev install (build)")
    """The templates are package data: a wheel (built from the sdist, as users get it) without them is useless."""
    import zipfile

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
    )
    names = zipfile.ZipFile(next(tmp_path.glob("f2g_core-*.whl"))).namelist()
    for kind in KINDS:
        assert f"f2g_core/scaffold/templates/{kind}/plugin.py.tmpl" in names
    assert "f2g_core/scaffold/templates/common/github/workflows/test.yml.tmpl" in names
