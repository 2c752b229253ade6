"""Shared pieces of the ``f2g eval`` tests: a tiny two-config shapes evaluation written as files, like a user's."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from f2g_core.cli import main

pytest.importorskip("f2g_plugin_shapes", reason="the eval tests run the shapes world (f2g-plugin-shapes)")

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


@pytest.fixture
def eval_files(tmp_path: Path) -> dict[str, Path]:
    """suite.txt (2 prompts), base.yaml (unguided) and guided.yaml (judge, n=3) in ``tmp_path``."""
    files = {"suite": tmp_path / "suite.txt", "base": tmp_path / "base.yaml", "guided": tmp_path / "guided.yaml"}
    files["suite"].write_text(PROMPTS)
    files["base"].write_text(BASE)
    files["guided"].write_text(GUIDED)
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
