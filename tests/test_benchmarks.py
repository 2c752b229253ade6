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


def _store(folder: Path, rows: list[tuple[str, int, float, int]], rounds: int = 1) -> None:
    """An ``f2g eval`` results store of (config, pair, overall pass, model calls) rows, each with a trace.json of
    one step making ``rounds`` rounds of 4 reward calls each (1 s measured, 0.25 s of it in the reward phase)."""
    import json

    pytest.importorskip("f2g_eval", reason="the scaling table reads an f2g eval store (f2g-eval)")
    from f2g_eval.jobs import JobResult
    from f2g_eval.store import Store

    with Store(folder / "results.sqlite") as store:
        for config, pair, passed, calls in rows:
            run_dir = f"runs/{config}/{pair}"
            seconds = {"denoise": 0.75, "reward": 0.25}
            step = {"step": 0, "reward_calls": 4 * rounds, "reward_rounds": rounds, "seconds": seconds}
            trace = {"num_steps": 25, "options": {"num_particles": 3}, "steps": [step], "final": None}
            trace["totals"] = {"reward_calls": 4 * rounds, "seconds": {"total": 1.0, **seconds}}
            (folder / run_dir).mkdir(parents=True)
            (folder / run_dir / "trace.json").write_text(json.dumps(trace))
            metrics = {"shapes.overall": passed, "shapes.score": passed / 2 + pair / 100}
            row = JobResult(
                f"multiple-{pair:03d}",
                "p",
                None,
                "d",
                0,
                pair,
                config,
                f"h-{config}",
                metrics,
                calls,
                4 * rounds,
                0,
                0.0,
                1.0,
                run_dir,
                reward_rounds=rounds,
            )
            store.add(row)


def _scaling_table(*args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "benchmarks" / "scaling_table.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)


def _archive(*args: str) -> str:
    """Run the study's archive.py (``save`` or ``load``); its stdout, once it succeeded."""
    script = ROOT / "benchmarks" / "scaling" / "v2" / "archive.py"
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_scaling_table_pairs_methods_against_best_of_n_in_every_currency(tmp_path: Path) -> None:
    rows = [
        (config, i, value, calls)
        for i in range(4)
        for config, value, calls in (("unguided", 0, 50), ("best-of-n@75", i % 2, 75), ("smc@75", 1, 75))
    ]
    _store(tmp_path / "test", rows)
    (tmp_path / "test" / "results.csv").write_text("config\nonly-the-last-command\n")  # the store is read
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- scaling-table:start -->\nold\n<!-- scaling-table:end -->\nafter\n")
    plot = tmp_path / "scaling.png"
    done = _scaling_table(str(tmp_path / "test"), "--plot", str(plot), "--readme", str(readme))
    assert done.returncode == 0, done.stderr
    assert "4 (prompt, seed) pairs" in done.stdout
    # regime (ii): 0.75 s not spent on rewards + one round of 4 calls (one wave of 2 s); 4 calls × $0.005
    assert "| 75 | smc | T=25, num_particles=3 | 75 | 4 | 1.0 | 1.0 | 2.8 | 0.020 | 100.0 [100.0, 100.0] | +50.0" in (
        done.stdout
    )
    assert "| smc@75 | +50.0 [+0.0, +100.0] (best-of-n@75) |" in done.stdout  # equal seconds (i): the same N
    assert "| 50 | unguided | T=25, num_particles=3 | 50 |" in done.stdout
    assert plot.is_file() and "old" not in readme.read_text() and "| 75 | best-of-n |" in readme.read_text()
    # a second table in the same file goes between its own markers; the first stays
    readme.write_text(readme.read_text() + "<!-- dev-grid:start -->\nold dev\n<!-- dev-grid:end -->\n")
    done = _scaling_table(str(tmp_path / "test"), "--readme", str(readme), "--marker", "dev-grid")
    text = readme.read_text()
    assert done.returncode == 0 and "old dev" not in text and text.count("| 75 | best-of-n |") == 2, done.stderr
    done = _scaling_table(str(tmp_path / "test"), "--readme", str(readme), "--marker", "test-grid")
    assert done.returncode != 0 and "no <!-- test-grid:start --> … <!-- test-grid:end --> markers" in done.stderr
    # a shared machine's seconds follow its load: --seconds-per-call prices compute by model calls instead
    done = _scaling_table(str(tmp_path / "test"), "--seconds-per-call", "0.01")
    assert "| 75 | smc | T=25, num_particles=3 | 75 | 4 | 1.0 | 0.8 | 2.8 | 0.020 |" in done.stdout, done.stderr


def test_scaling_table_flags_a_curve_that_drops_beyond_noise_and_leaves_out_unfinished_configs(
    tmp_path: Path,
) -> None:
    rows = [
        (config, i, value, calls)
        for i in range(40)
        for config, value, calls in (
            ("best-of-n@75", 1, 75),
            ("best-of-n@150", 0, 150),
            ("smc@75", i % 2, 75),
            ("smc@150", (i + 1) % 2, 150),
        )
    ]
    _store(tmp_path / "dev", rows + [("smc@300", i, 1, 300) for i in range(3)])
    done = _scaling_table(str(tmp_path / "dev"))
    assert done.returncode == 0, done.stderr
    assert "- best-of-n: NON-MONOTONE (a drop beyond noise); 75→150: -100.0" in done.stdout
    assert "- smc: monotone; 75→150: +0.0" in done.stdout
    assert "smc@300: 3 of 40 pairs (left out)" in done.stdout and "| 300 |" not in done.stdout
    assert "non-monotone beyond noise: best-of-n" in done.stdout


def test_scaling_table_brackets_equal_cost_between_a_dearer_and_a_cheaper_best_of_n(tmp_path: Path) -> None:
    # reward calls per video, so regime (ii) seconds and dollars: best-of-N 4 and 12, smc 8 (between them)
    for config, rounds, passed in (("best-of-n@75", 1, 0), ("best-of-n@150", 3, 1), ("smc@75", 2, None)):
        rows = [(config, i, i % 2 if passed is None else passed, 75) for i in range(40)]
        _store(tmp_path / "test", rows, rounds=rounds)
    done = _scaling_table(str(tmp_path / "test"))
    assert done.returncode == 0, done.stderr
    dearer, _, cheaper = done.stdout.partition("at equal or lower cost")
    # the last two columns: regime (ii) seconds and dollars (regime (i) seconds are equal, 1 s for each)
    assert "| -50.0 [-65.0, -35.0] * (best-of-n@150) | -50.0 [-65.0, -35.0] * (best-of-n@150) |" in dearer
    assert "| +50.0 [+35.0, +65.0] * (best-of-n@75) | +50.0 [+35.0, +65.0] * (best-of-n@75) |" in cheaper


def test_the_api_cost_model_waits_one_latency_per_wave_of_calls_in_each_round() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from api_cost import Regime, modelled, reward_wait

    regime = Regime(latency=2.0, concurrency=8, price=0.01)
    smc = [{"reward_calls": 3, "reward_rounds": 1}] * 25  # 25 rounds of 3: 25 waves
    draft = [{"reward_calls": 20, "reward_rounds": 1}, {"reward_calls": 0, "reward_rounds": 0}]  # 8 + 8 + 4
    assert reward_wait(smc, regime) == 50.0 and reward_wait(draft, regime) == 6.0
    assert reward_wait([{"reward_calls": 20, "reward_rounds": 2}], regime) == 8.0  # 10 a round: 2 waves of 2 s
    seconds = {"total": 3.0, "denoise": 4.0, "decode": 1.0, "reward": 1.0}  # a batch of two: a sixth on rewards
    trace = {"steps": draft, "final": None, "totals": {"reward_calls": 20, "seconds": seconds}}
    assert modelled(trace, regime) == (2.5 + 6.0, 0.2)


def test_scaling_table_selects_the_best_dev_variant_per_method_and_budget(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    names = ("smc@75~k3", "smc@75~k5", "best-of-n@75~n3", "unguided")
    for name in names:
        (sweep / f"{name}.yaml").write_text(f"# {name}\n")
    rows = [(n, i, v, 75) for i in range(4) for n, v in zip(names, (i % 2, 1, 0, 0), strict=True)]
    _store(tmp_path / "dev", rows)
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
    _store(tmp_path / "dev", rows)
    with Store(tmp_path / "dev" / "results.sqlite") as store:
        for steps, name in zip((15, 25), names, strict=True):
            config = {"sampler": {"num_steps": steps}, "guidance": {"method": "smc", "budget": {"model_calls": 75}}}
            store.add_config(f"h{steps}", name, json.dumps({"prompt": None, **config}))
    chosen = tmp_path / "chosen"
    done = _scaling_table(str(tmp_path / "dev"), "--select", str(chosen), "--sweep", str(tmp_path / "none"))
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load((chosen / "smc@75.yaml").read_text())
    assert data == {"sampler": {"num_steps": 25}, "guidance": {"method": "smc", "budget": {"model_calls": 75}}}


def test_the_study_archive_brings_a_lost_eval_directory_back_as_the_table_reads_it(tmp_path: Path) -> None:
    rows = [(c, i, float(i % 2), 75) for i in range(3) for c in ("best-of-n@75", "smc@75")]
    _store(tmp_path / "made", rows, rounds=2)
    archive = tmp_path / "archive"
    assert _archive("save", str(tmp_path / "made"), str(archive)).startswith("6 new jobs")
    assert _archive("save", str(tmp_path / "made"), str(archive)).startswith("0 new jobs")  # nothing twice
    assert len(list(archive.glob("*.jsonl.gz"))) == 1
    assert _archive("load", str(archive), str(tmp_path / "back")).startswith("6 jobs restored")
    assert _archive("load", str(archive), str(tmp_path / "back")).startswith("0 jobs restored")
    full = next((tmp_path / "made" / "runs").rglob("trace.json"))
    before = full.read_text()
    assert _archive("load", str(archive), str(tmp_path / "made")).startswith("0 jobs restored")
    assert full.read_text() == before  # a job the directory holds keeps its own trace, not the digest
    made, back = (_scaling_table(str(tmp_path / name)) for name in ("made", "back"))
    assert back.returncode == 0 and "| 75 | smc |" in back.stdout and back.stdout == made.stdout, back.stderr


def test_the_probe_ceiling_sets_the_judges_pick_against_any_chain_passing_from_a_gz_probe(tmp_path: Path) -> None:
    import gzip
    import json

    pytest.importorskip("f2g_eval", reason="the ceiling's intervals are f2g-eval's bootstrap")
    # pair a: chain 1 passes but the judge ranks chain 0 first; pair b: the judge's pick (chain 1) passes
    pairs = {
        "a": {"passed": [False, True, False], "final_reward": [0.9, 0.5, 0.1]},
        "b": {"passed": [False, True, True], "final_reward": [0.2, 0.8, 0.3]},
    }
    probe = tmp_path / "chains.json.gz"
    with gzip.open(probe, "wt", encoding="utf-8") as file:
        json.dump(pairs, file)
    script = str(ROOT / "benchmarks" / "scaling" / "v2" / "probe.py")
    done = subprocess.run(
        [sys.executable, script, "chains", "--out", str(probe), "--ceiling"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if re.match(r"^\d+\s", line)]
    means = {line.split()[0]: [float(m) for m in re.findall(r"(?:^\d+|\])\s+(-?[\d.]+) \[", line)] for line in table}
    assert means == {"1": [0.0, 0.0, 0.0], "2": [50.0, 100.0, 50.0], "3": [50.0, 100.0, 50.0]}, done.stdout
    refused = subprocess.run(
        [sys.executable, script, "draft", "--out", str(probe), "--ceiling"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "--ceiling reads a chains probe" in refused.stderr, refused.stderr


def _table_lines(text: str, marker: str) -> list[str]:
    """The markdown table lines between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    block = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    return [line for line in block.splitlines() if line.startswith("|")]


@pytest.mark.parametrize(("split", "marker"), [("dev", "dev-grid"), ("test", "scaling-table")])
def test_the_docs_study_tables_are_what_the_committed_archive_makes(tmp_path: Path, split: str, marker: str) -> None:
    """Why: the docs' study figures are what readers act on; they must be the committed runs' (every row made by
    scaling_table.py from the archive, none typed in, none stale), and the shapes README must show the same test
    table as docs/samplers.md."""
    pytest.importorskip("f2g_eval", reason="the archive loads into an f2g eval store (f2g-eval)")
    _archive(
        "load", str(ROOT / "benchmarks" / "scaling" / "v2" / "results" / f"scaling-v2-{split}"), str(tmp_path / "store")
    )
    committed = (ROOT / "docs" / "samplers.md").read_text()
    remade = tmp_path / "samplers.md"
    remade.write_text(committed)
    done = _scaling_table(
        str(tmp_path / "store"), "--seconds-per-call", "0.0155", "--readme", str(remade), "--marker", marker
    )
    assert done.returncode == 0, done.stderr
    ours, theirs = _table_lines(committed, marker), _table_lines(remade.read_text(), marker)

    def accuracy_rows(lines: list[str]) -> list[str]:  # the main table's rows: a budget in the first cell
        return [line for line in lines if re.match(r"^\| \d+ \|", line)]

    assert accuracy_rows(theirs) and accuracy_rows(ours) == accuracy_rows(theirs)
    assert set(ours) <= set(theirs), sorted(set(ours) - set(theirs))
    if marker == "scaling-table":
        shapes = (ROOT / "f2g_plugins" / "shapes" / "README.md").read_text()
        assert _table_lines(shapes, marker) == ours
