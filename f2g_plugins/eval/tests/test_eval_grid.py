"""`f2g eval --methods … --budgets …`: a method × budget grid from one base config, resumable like any eval."""

from pathlib import Path

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
