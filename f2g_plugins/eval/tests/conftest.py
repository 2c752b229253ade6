"""Shared pieces of the ``f2g eval`` tests: a tiny two-config shapes evaluation written as files, like a user's,
and one on the core's own analytic backbone that runs where no plugin is installed (the core-alone CI stage).

Only what needs the shapes world skips without it, test by test (``eval_files``, ``shapes``); the store, the
summaries, the suites and the engines' failure handling are tested in every stage.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from f2g_core.cli import main
from f2g_core.plugins import default_plugins
from f2g_core.testing import install_fake_distribution

BASE = """\
backbone: {type: shapes}
sampler: {num_steps: 8}
guidance: {method: none}
output: {formats: [gif]}
"""
GUIDED = """\
backbone: {type: shapes}
rewards: [{type: shapes-judge}]
sampler: {num_steps: 8}
guidance: {method: free2guide, options: {num_candidates: 3, num_guided_steps: 2}}
output: {formats: [gif, mp4]}
"""
PROMPTS = "a red circle moving left\na blue square above a green triangle\n"


CORE = """\
backbone: {type: gaussian-mixture}
sampler: {num_steps: 4}
guidance: {method: none}
output: {formats: [gif]}
"""


@pytest.fixture
def shapes() -> None:
    """Skip the test where the shapes world (f2g-plugin-shapes) is not installed."""
    pytest.importorskip("f2g_plugin_shapes", reason="this test runs the shapes world (f2g-plugin-shapes)")


@pytest.fixture
def eval_files(tmp_path: Path, shapes: None) -> dict[str, Path]:
    """suite.txt (2 prompts), base.yaml (unguided) and guided.yaml (judge, n=3) in ``tmp_path``."""
    files = {"suite": tmp_path / "suite.txt", "base": tmp_path / "base.yaml", "guided": tmp_path / "guided.yaml"}
    files["suite"].write_text(PROMPTS)
    files["base"].write_text(BASE)
    files["guided"].write_text(GUIDED)
    return files


@pytest.fixture(scope="session")
def core_world_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an installed plugin (a fake distribution) that registers the core's analytic backbone
    and rewards (``gaussian-mixture``, ``mode-distance``, ``brightness``), which the core does not register itself."""
    site = tmp_path_factory.mktemp("core-world")
    (site / "f2g_eval_core_world.py").write_text(
        "from f2g_core.gaussian_mixture import register_backbones, register_rewards  # noqa: F401\n"
    )
    install_fake_distribution(site, "f2g-eval-core-world", "0.1", "eval-core-world = f2g_eval_core_world")
    return site


@pytest.fixture
def core_world(core_world_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The analytic backbone installed for this test (in this process; subprocesses get ``PYTHONPATH``)."""
    monkeypatch.syspath_prepend(str(core_world_site))
    path = os.pathsep.join(filter(None, [str(core_world_site), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    default_plugins.cache_clear()
    yield core_world_site
    default_plugins.cache_clear()


@pytest.fixture
def core_files(tmp_path: Path, core_world: Path) -> dict[str, Path]:
    """suite.txt (2 prompts) and core.yaml (the core's analytic backbone, unguided, 4 steps): no plugin needed."""
    files = {"suite": tmp_path / "suite.txt", "core": tmp_path / "core.yaml"}
    files["suite"].write_text(PROMPTS)
    files["core"].write_text(CORE)
    return files


def run_cli(args: list[str]) -> int:
    """Run the ``f2g`` command line in-process and return its exit code."""
    try:
        main(args)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of an eval's results.csv."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def eval_args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """``f2g eval`` arguments for the 2-prompt × 2-seed × 2-config evaluation."""
    return [
        "eval", str(files["suite"]), "-c", str(files["base"]), "-c", str(files["guided"]),
        "--seeds", "0-1", "--metric", "shapes", "--out", str(out), *extra,
    ]  # fmt: skip
