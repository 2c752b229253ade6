"""`f2g eval --methods … --budgets …`: a method × budget grid from one base config, resumable like any eval."""

import json
import sqlite3
from pathlib import Path

import pytest
from f2g_core.default_plugins.search_methods import Prune

from .conftest import GUIDED, read_csv, run_cli


def test_a_grid_runs_every_method_at_every_budget_within_it(tmp_path: Path, shapes: None) -> None:
    (tmp_path / "suite.txt").write_text("a blue square above a green triangle\n")
    (tmp_path / "base.yaml").write_text(GUIDED)
    out = tmp_path / "out"
    base = ["eval", str(tmp_path / "suite.txt"), "-c", str(tmp_path / "base.yaml"), "--metric", "shapes"]
    base += ["--methods", "best-of-n,prune", "--no-report", "--out", str(out)]
    args = [*base, "--budgets", "16,24"]
    assert run_cli(args) == 0
    rows = {row["config"]: row for row in read_csv(out / "results.csv")}
    assert sorted(rows) == ["best-of-n@16", "best-of-n@24", "prune@16", "prune@24"]
    for name, row in rows.items():
        budget = int(name.split("@")[1])
        assert budget - 8 < int(row["model_calls"]) <= budget  # T = 8: within one chain of the budget
        assert int(row["reward_rounds"]) >= 1 and float(row["seconds_denoise"]) > 0
    assert run_cli(args) == 0  # resumes: nothing left to run
    assert len(read_csv(out / "results.csv")) == 4
    assert run_cli([*base, "--budgets", "0"]) == 2 and run_cli([*base, "--budgets", "many"]) == 2


def test_a_refitted_budget_rule_makes_new_videos_on_resume_and_the_config_runs_as_given(
    tmp_path: Path, shapes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "suite.txt").write_text("a blue square above a green triangle\n")
    (tmp_path / "base.yaml").write_text(GUIDED)
    out = tmp_path / "out"
    args = ["eval", str(tmp_path / "suite.txt"), "-c", str(tmp_path / "base.yaml"), "--metric", "shapes"]
    args += ["--methods", "prune,free2guide", "--budgets", "40", "--no-report", "--out", str(out)]
    assert run_cli(args) == 0
    first = {row["config"]: row for row in read_csv(out / "results.csv")}
    assert run_cli(args) == 0  # the same rules: nothing to make, the same keys
    assert {row["config"]: row["config_hash"] for row in read_csv(out / "results.csv")} == {
        name: row["config_hash"] for name, row in first.items()
    }
    monkeypatch.setattr(Prune, "BUDGET_RULE", {**Prune.BUDGET_RULE, "keep": 0.5})  # a refit of prune's rule
    assert run_cli(args) == 0
    refit = {row["config"]: row for row in read_csv(out / "results.csv")}
    assert refit["prune@40"]["config_hash"] != first["prune@40"]["config_hash"]  # made anew
    assert refit["free2guide@40"]["config_hash"] == first["free2guide@40"]["config_hash"]  # its rule is unchanged
    runs = [json.loads((out / refit["prune@40"]["run_dir"] / "trace.json").read_text())]
    runs.append(json.loads((out / first["prune@40"]["run_dir"] / "trace.json").read_text()))
    assert [run["options"]["keep"] for run in runs] == [0.5, 0.25]
    with sqlite3.connect(out / "results.sqlite") as db:
        stored = [json.loads(text)["guidance"] for (text,) in db.execute("SELECT config FROM configs")]
    assert all(g["options"] == {} and g["budget"] == {"model_calls": 40} for g in stored)  # run as given
