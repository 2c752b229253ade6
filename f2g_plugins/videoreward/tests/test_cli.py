"""``videoreward`` through the command line on the shapes world, with the miniature (``model: tiny``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("f2g_plugin_shapes", reason="the shapes world (f2g-plugin-shapes) is the offline backbone")


def invoke(*args: str) -> str:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def test_f2g_generate_guides_with_videoreward(tmp_path: Path) -> None:
    invoke(
        "generate", "a red circle moving left", "-r", "videoreward", "--set", "rewards.0.options.model=tiny",
        "--set", "rewards.0.options.device=cpu", "-n", "2", "--steps", "6", "--guided-steps", "2",
        "--out", str(tmp_path),
    )  # fmt: skip
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    assert trace["totals"]["reward_calls"] == 2 * 2
    scores = [s for step in trace["steps"] for s in step.get("scores", {}).get("videoreward", [])]
    assert len(scores) == 4 and len(set(scores)) > 1  # each candidate scored, and they differ


def test_f2g_eval_reports_each_dimension(tmp_path: Path) -> None:
    suite, config, out = tmp_path / "suite.txt", tmp_path / "base.yaml", tmp_path / "out"
    suite.write_text("a red circle moving left\n")
    config.write_text("backbone: {type: shapes}\nsampler: {num_steps: 4}\nguidance: {method: none}\n")
    invoke("eval", str(suite), "-c", str(config), "--metric", "videoreward:model=tiny,device=cpu", "--out", str(out))
    with (out / "results.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    values = [float(row[f"videoreward.{d}"]) for d in ("VQ", "MQ", "TA", "overall")]
    assert values[3] == pytest.approx(sum(values[:3]), abs=1e-9)
