"""The benchmark scripts still run and report the call counts the design promises (no timing asserted)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_loop_overhead_reports_fewer_calls_and_decodes_than_the_official_flow() -> None:
    args = ["--n", "3", "--steps", "8", "--guided", "2", "--frames", "8", "--videos", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loop_overhead.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    calls = re.search(r"model calls / video\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)", done.stdout)
    frames = re.search(r"frames decoded / video\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)", done.stdout)
    assert calls and frames, done.stdout
    assert (float(calls[1]), float(calls[2])) == (8 + 2 * 3, 8 + 2 * 2)
    assert (float(frames[1]), float(frames[2])) == (2 * 3 * 8 + 8, 2 * 3 * 4 + 8)


def test_gpu_scale_exits_cleanly_without_cuda() -> None:
    pytest.importorskip("f2g_plugin_diffusers", reason="the benchmark builds a Wan model (f2g-plugin-diffusers)")
    import torch

    if torch.cuda.is_available():
        return  # the real benchmark runs there; nothing to check about the message
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_scale.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "no CUDA device" in done.stdout, done.stderr


def _results_csv(folder: Path, rows: list[tuple[str, int, float, int]]) -> None:
    """An ``f2g eval`` results.csv of (config, pair, overall pass, model calls) rows."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["item_id", "seed", "config", "shapes.overall", "shapes.score", "model_calls"])
        writer.writeheader()
        for config, pair, passed, calls in rows:
            row = {"item_id": f"multiple-{pair:03d}", "seed": pair, "config": config, "shapes.overall": passed}
            writer.writerow({**row, "shapes.score": passed / 2 + pair / 100, "model_calls": calls})


def _scaling_table(*args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "benchmarks" / "scaling_table.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)


def test_scaling_table_pairs_methods_against_best_of_n(tmp_path: Path) -> None:
    rows = [
        (config, i, value, calls)
        for i in range(4)
        for config, value, calls in (("unguided", 0, 50), ("best-of-n@75", i % 2, 75), ("smc@75", 1, 75))
    ]
    _results_csv(tmp_path / "test", rows)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "smc@75.yaml").write_text(
        "sampler: {num_steps: 25}\nguidance: {method: smc, options: {num_particles: 3}}\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- scaling-table:start -->\nold\n<!-- scaling-table:end -->\nafter\n")
    plot = tmp_path / "scaling.png"
    done = _scaling_table(
        str(tmp_path / "test"), "--configs", str(configs), "--plot", str(plot), "--readme", str(readme)
    )
    assert done.returncode == 0, done.stderr
    assert "4 (prompt, seed) pairs" in done.stdout
    assert "| 75 | smc | T=25, num_particles=3 | 75 | 100.0 [100.0, 100.0] | +50.0" in done.stdout
    assert "| 50 | unguided |  | 50 | 0.0 [0.0, 0.0] |  |" in done.stdout
    assert plot.is_file() and "old" not in readme.read_text() and "| 75 | best-of-n |" in readme.read_text()


def test_scaling_table_selects_the_best_dev_variant_per_method_and_budget(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    names = ("smc@75~k3", "smc@75~k5", "best-of-n@75~n3", "unguided")
    for name in names:
        (sweep / f"{name}.yaml").write_text(f"# {name}\n")
    rows = [(n, i, v, 75) for i in range(4) for n, v in zip(names, (i % 2, 1, 0, 0), strict=True)]
    _results_csv(tmp_path / "dev", rows)
    chosen = tmp_path / "chosen"
    done = _scaling_table(str(tmp_path / "dev"), "--select", str(chosen), "--sweep", str(sweep))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in chosen.iterdir()) == ["best-of-n@75.yaml", "smc@75.yaml", "unguided.yaml"]
    assert (chosen / "smc@75.yaml").read_text() == "# smc@75~k5\n"  # 100% on dev beats 50%


def test_scaling_table_selects_grid_configs_from_the_eval_store(tmp_path: Path) -> None:
    """Grid configs (f2g eval --methods/--budgets/--steps) have no sweep file: the selection comes from the store."""
    import json

    import yaml

    store_module = pytest.importorskip("f2g_eval.store", reason="the scaling table reads an f2g eval store (f2g-eval)")
    Store = store_module.Store

    names = ("smc@75~t15", "smc@75~t25")
    rows = [(n, i, v, 75) for i in range(4) for n, v in zip(names, (0, 1), strict=True)]
    _results_csv(tmp_path / "dev", rows)
    with Store(tmp_path / "dev" / "results.sqlite") as store:
        for steps, name in zip((15, 25), names, strict=True):
            config = {"sampler": {"num_steps": steps}, "guidance": {"method": "smc", "budget": {"model_calls": 75}}}
            store.add_config(f"h{steps}", name, json.dumps({"prompt": None, **config}))
    chosen = tmp_path / "chosen"
    done = _scaling_table(str(tmp_path / "dev"), "--select", str(chosen), "--sweep", str(tmp_path / "none"))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load((chosen / "smc@75.yaml").read_text())
    assert data == {"sampler": {"num_steps": 25}, "guidance": {"method": "smc", "budget": {"model_calls": 75}}}
