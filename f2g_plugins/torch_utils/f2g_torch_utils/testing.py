"""Command-line checks the model-reward plugins' tests share: a reward with ``model: tiny`` guiding a run of the
shapes world through ``f2g generate``, and its metric as columns of ``f2g eval``.

Each plugin's ``tests/test_cli.py`` calls these with its id and checks what its scores should be; the shapes world
(f2g-plugin-shapes) is the offline backbone, so those tests skip where it is not installed. The CLI is imported
when a check runs, never at import.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


def invoke(*args: str) -> str:
    """Run ``f2g ARGS`` in-process; its output, after asserting that it succeeded (the output is the message)."""
    from typer.testing import CliRunner

    from f2g_core.cli import app

    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def guided_scores(out: Path, reward: str, prompt: str, *, candidates: int = 2, guided_steps: int = 2) -> list[float]:
    """The scores ``reward`` (``model: tiny`` on the CPU) gave while guiding a shapes-world run of ``prompt``,
    after checking from the trace that it was called once per candidate and guided step."""
    invoke(
        "generate", prompt, "-r", reward, "--set", "rewards.0.options.model=tiny",
        "--set", "rewards.0.options.device=cpu", "--method", "free2guide", "-n", str(candidates), "--steps", "6",
        "--guided-steps", str(guided_steps), "--out", str(out),
    )  # fmt: skip
    (run,) = out.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    assert trace["totals"]["reward_calls"] == candidates * guided_steps
    return [float(s) for step in trace["steps"] for s in step.get("scores", {}).get(reward, [])]


def eval_columns(folder: Path, metric: str, prompt: str) -> dict[str, float]:
    """The ``metric`` columns (``metric.<dimension>``, or the one column ``metric`` of a reward serving as a metric;
    as floats) of ``f2g eval`` on one shapes-world video of ``prompt``, the metric run with ``model: tiny`` on the
    CPU."""
    suite, config, out = folder / "suite.txt", folder / "base.yaml", folder / "out"
    suite.write_text(prompt + "\n")
    config.write_text("backbone: {type: shapes}\nsampler: {num_steps: 4}\nguidance: {method: none}\n")
    invoke("eval", str(suite), "-c", str(config), "--metric", f"{metric}:model=tiny,device=cpu", "--out", str(out))
    with (out / "results.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    prefix = f"{metric}."  # a metric of several dimensions; a reward serving as a metric is one bare column
    return {
        key.removeprefix(prefix): float(value) for key, value in row.items() if key.startswith(prefix) or key == metric
    }
