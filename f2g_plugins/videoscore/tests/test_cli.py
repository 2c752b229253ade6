"""``videoscore`` through the command line on the shapes world, with the miniature (``model: tiny``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("f2g_plugin_shapes", reason="the shapes world (f2g-plugin-shapes) is the offline backbone")

DIMENSIONS = ("visual_quality", "temporal_consistency", "dynamic_degree", "text_alignment", "factual_consistency")


def invoke(*args: str) -> str:
    from typer.testing import CliRunner

    from f2g_core.cli import app

    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def test_f2g_generate_guides_with_videoscore(tmp_path: Path) -> None:
    invoke(
        "generate", "a yellow triangle above a green circle", "-r", "videoscore",
        "--set", "rewards.0.options.model=tiny", "--set", "rewards.0.options.device=cpu",
        "-n", "2", "--steps", "6", "--guided-steps", "2", "--out", str(tmp_path),
    )  # fmt: skip
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    assert trace["totals"]["reward_calls"] == 2 * 2
    scores = [s for step in trace["steps"] for s in step.get("scores", {}).get("videoscore", [])]
    assert len(scores) == 4 and len(set(scores)) > 1  # each candidate scored, and they differ


def test_f2g_eval_reports_each_dimension(tmp_path: Path) -> None:
    suite, config, out = tmp_path / "suite.txt", tmp_path / "base.yaml", tmp_path / "out"
    suite.write_text("a yellow triangle above a green circle\n")
    config.write_text("backbone: {type: shapes}\nsampler: {num_steps: 4}\nguidance: {method: none}\n")
    invoke("eval", str(suite), "-c", str(config), "--metric", "videoscore:model=tiny,device=cpu", "--out", str(out))
    with (out / "results.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    values = [float(row[f"videoscore.{d}"]) for d in DIMENSIONS]
    assert float(row["videoscore.mean"]) == pytest.approx(np.mean(values), abs=1e-9)
    assert len(set(values)) == len(values)  # five distinct outputs, not one copied
