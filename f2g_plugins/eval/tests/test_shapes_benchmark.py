"""The shapes benchmark is a suite + configs run by ``f2g eval``; its README table is made from the eval's CSV."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from f2g_core.cli import main

from .conftest import read_csv

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "benchmarks" / "shapes"


def load_table_script():
    spec = importlib.util.spec_from_file_location("shapes_table", ROOT / "benchmarks" / "shapes_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_config_is_valid(shapes: None) -> None:
    from f2g_eval.runner import load_configs

    configs = load_configs([str(CONFIGS)])
    assert len(configs) == 17 and {"unguided", "paper", "oracle", "best-of-3"} <= {c.name for c in configs}


def test_benchmark_rows_and_readme_table_from_f2g_eval(tmp_path: Path, shapes: None) -> None:
    out = tmp_path / "eval"
    args = ["eval", "shapes-benchmark:pairs=3", "-c", str(CONFIGS / "unguided.yaml"), "-c", str(CONFIGS / "paper.yaml")]
    with pytest.raises(SystemExit) as done:  # the console-script entry exits with the documented code
        main([*args, "--metric", "shapes", "--baseline", "unguided", "--out", str(out), "--no-report"])
    assert done.value.code in (0, None)
    rows = read_csv(out / "results.csv")
    assert len(rows) == 6 and {r["category"] for r in rows} == {"single", "multiple", "relation"}
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmark-table:start -->\nold\n<!-- benchmark-table:end -->\nafter\n")
    assert load_table_script().main([str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("after\n")
    for name in ("unguided", "paper"):
        mine = [float(r["shapes.overall"]) for r in rows if r["config"] == name]
        line = next(line for line in text.splitlines() if line.startswith(f"| {name} | 3 |"))
        assert f"| {100 * sum(mine) / 3:.1f} [" in line
    assert "Change vs unguided" in text and "| paper | " in text.split("Change vs unguided")[1]


def test_table_script_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("item_id,seed,config,category,model_calls,seconds\n")
    (tmp_path / "README.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- benchmark-table:start -->"):
        load_table_script().main([str(tmp_path), "--readme", str(tmp_path / "README.md")])


def test_table_script_takes_each_config_from_the_run_with_the_most_pairs(tmp_path: Path) -> None:
    header = "item_id,seed,config,category,shapes.overall,model_calls,seconds\n"
    for folder, rows in (("big", [("a", 1), ("b", 1), ("c", 1)]), ("small", [("a", 0), ("b", 0)])):
        (tmp_path / folder).mkdir()
        lines = [f"{item},0,{config},single,{value},50,1.0\n" for item, value in rows for config in ("x",)]
        lines += [f"{item},0,only-{folder},single,{value},50,1.0\n" for item, value in rows]
        (tmp_path / folder / "results.csv").write_text(header + "".join(lines))
    merged = load_table_script().merged_rows([tmp_path / "small", tmp_path / "big"])
    x = [r for r in merged if r["config"] == "x"]
    assert len(x) == 3 and {r["shapes.overall"] for r in x} == {"1"}  # the 3-pair run, not the 2-pair one
    assert {r["config"] for r in merged} == {"x", "only-big", "only-small"}
