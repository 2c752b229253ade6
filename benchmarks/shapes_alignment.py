"""Does Free²Guide make videos follow the prompt better?  Measured in the shapes world, exactly.

Runs f2g's own pipeline (``f2g_core.pipeline.Pipeline``) with the ``shapes`` backbone over a fixed suite of
(prompt, seed) pairs spanning single objects (with motion), two objects ("and") and spatial relations, and scores
every finished video with the exact rule-based evaluator of f2g-plugin-shapes (VBench-style dimensions). Every
configuration sees the same pairs, so differences are paired: 95% intervals come from a paired bootstrap over
pairs.

Configurations (see ``configs()``): unguided; the paper's setting (n = 5, first 6 of 50 steps, argmax) with the
learned judge ``shapes-judge``; sweeps over n, the guided range and λ (soft selection); the exact evaluator
``shapes-oracle`` as reward (an upper bound); best-of-N with the judge at (about) the same number of model calls;
judge + oracle ensembles with each combiner.

    python benchmarks/shapes_alignment.py                 # full suite (400 pairs), resumable, writes a table
    python benchmarks/shapes_alignment.py --quick         # a few pairs and configs, for CI (about a minute)
    python benchmarks/shapes_alignment.py --only unguided,paper --pairs 100

Results are appended to ``OUT/results.jsonl`` as they finish (a rerun skips what is done); the markdown table is
written to ``OUT/table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

CATEGORIES = ("single", "multiple", "relation")
DIMS = ("object_class", "colour", "motion", "multiple_objects", "spatial_relation", "overall")
SUITE_SEED = 20_241_126


# ------------------------------------------------------------------------------------------------ the suite


def build_suite(pairs: int) -> list[dict[str, Any]]:
    """A fixed list of (prompt, seed, category): 40% single objects with motion, 30% "and", 30% relations."""
    from f2g_plugin_shapes.world import random_prompt

    rng = random.Random(SUITE_SEED)
    counts = {"single": round(pairs * 0.4), "multiple": round(pairs * 0.3)}
    counts["relation"] = pairs - counts["single"] - counts["multiple"]
    suite = []
    for category in CATEGORIES:
        for _ in range(counts[category]):
            prompt = random_prompt(rng, category, motion_prob=1.0 if category == "single" else 0.5)
            suite.append({"prompt": prompt.text(), "seed": rng.randrange(1_000_000), "category": category})
    return suite


# ------------------------------------------------------------------------------------------- configurations


def guided(
    n: int = 5,
    start: int = 0,
    length: int = 6,
    selection: str = "argmax",
    temperature: float = 1.0,
    rewards: list[dict[str, Any]] | None = None,
    combiner: str = "weighted-sum",
) -> dict[str, Any]:
    """A Free²Guide configuration (50 steps, eta 1) with the judge unless ``rewards`` say otherwise."""
    return {
        "rewards": rewards or [{"type": "shapes-judge"}],
        "combiner": {"type": combiner},
        "sampler": {"num_steps": 50, "eta": 1.0},
        "guidance": {
            "method": "free2guide",
            "options": {
                "num_candidates": n,
                "start": start,
                "num_guided_steps": length,
                "selection": selection,
                "temperature": temperature,
            },
        },
    }


def _steps(start: int, length: int) -> str:
    return f"steps {start}-{start + length - 1}"


def configs(best: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """Every configuration by name, in the order they run (most important first).

    ``best`` = (start, length) of the guided range the sweep found best; the oracle, best-of-N, ensemble, n and λ
    rows use it. The range sweep comes last.
    """
    start, length = best
    b = _steps(start, length)
    ensemble = [{"type": "shapes-judge", "weight": 0.75}, {"type": "shapes-oracle", "weight": 0.25}]
    out: dict[str, dict[str, Any]] = {
        "unguided": {"rewards": [], "sampler": {"num_steps": 50, "eta": 1.0}, "guidance": {"method": "none"}},
        "judge n=5 steps 0-5 (paper)": guided(),
    }
    if (start, length) != (0, 6):  # otherwise the paper row above is this configuration
        out[f"judge n=5 {b}"] = guided(5, start, length)
    out[f"oracle n=5 {b}"] = guided(5, start, length, rewards=[{"type": "shapes-oracle"}])
    calls = 50 + length * 4
    for samples in (2, 3):
        steps = round(calls / samples)
        out[f"best-of-{samples} judge, {steps} steps ({samples * steps} calls)"] = {
            "rewards": [{"type": "shapes-judge"}],
            "sampler": {"num_steps": steps, "eta": 1.0},
            "guidance": {"method": "best-of-n", "options": {"num_candidates": samples}},
        }
    for combiner in ("weighted-sum", "normalized-sum", "consensus"):
        out[f"judge+oracle {combiner} n=5 {b}"] = guided(5, start, length, rewards=ensemble, combiner=combiner)
    for size in (3, 10):
        out[f"judge n={size} {b}"] = guided(size, start, length)
    for temperature in (0.25, 1.0):
        out[f"judge n=5 {b} soft λ={temperature}"] = guided(5, start, length, "soft", temperature)
    for s, k in ((6, 6), (12, 6), (0, 12), (20, 6), (0, 20)):
        out.setdefault(f"judge n=5 {_steps(s, k)}", guided(5, s, k))
    return out


# --------------------------------------------------------------------------------------------------- running

_pipelines: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_task(task: tuple[str, dict[str, Any], list[tuple[int, dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Generate and evaluate a chunk of pairs for one configuration (in a worker process)."""
    import f2g_plugin_shapes.plugin as shapes_plugin
    from f2g_plugin_shapes.evaluator import evaluate

    from f2g_core.pipeline import Pipeline
    from f2g_core.plugins import load_plugins

    name, overrides, items = task
    if name not in _pipelines:
        registry = load_plugins(extra=[("f2g-plugin-shapes", shapes_plugin)], entry_point_group=None).registry
        config = {"backbone": {"type": "shapes"}, **overrides}
        _pipelines[name] = Pipeline.from_config(config, registry=registry)
    pipeline = _pipelines[name]
    rows = []
    for index, pair in items:
        start = time.perf_counter()
        result = pipeline.generate(prompt=pair["prompt"], seed=pair["seed"])
        seconds = time.perf_counter() - start
        verdict = evaluate(pair["prompt"], result.video)
        rows.append(
            {
                "config": name,
                "index": index,
                **pair,
                **verdict.dimensions,
                "score": verdict.score,
                "model_calls": result.trace.totals()["model_calls"],
                "seconds": seconds,
            }
        )
    return rows


def run(
    suite: list[dict[str, Any]],
    todo: dict[str, dict[str, Any]],
    results: Path,
    workers: int,
    chunk: int,
    indices: Sequence[int] | None = None,
) -> None:
    """Run every (config, pair) not yet in ``results`` and append rows as chunks finish."""
    done = {(r["config"], r["index"]) for r in load_rows(results)}
    tasks = []
    for name, overrides in todo.items():
        wanted = list(range(len(suite)) if indices is None else indices)
        random.Random(SUITE_SEED).shuffle(wanted)  # a run cut short still covers every category evenly
        items = [(i, suite[i]) for i in wanted if (name, i) not in done]
        tasks += [(name, overrides, items[k : k + chunk]) for k in range(0, len(items), chunk)]
    if not tasks:
        return
    threads = max(1, (os.cpu_count() or 2) // workers)
    print(f"{sum(len(t[2]) for t in tasks)} videos to make in {len(tasks)} chunks on {workers} worker(s)", flush=True)
    started = time.time()
    with results.open("a") as handle:
        if workers == 1:
            _init_worker(threads)
            finished: Iterable[list[dict[str, Any]]] = map(_run_task, tasks)
        else:
            pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(threads,))
            finished = pool.map(_run_task, tasks)
        for count, rows in enumerate(finished, 1):
            for row in rows:
                handle.write(json.dumps(row) + "\n")
            handle.flush()
            print(f"[{time.time() - started:6.0f}s] {count}/{len(tasks)} chunks ({rows[0]['config']})", flush=True)
        if workers > 1:
            pool.shutdown()


def load_rows(results: Path) -> list[dict[str, Any]]:
    if not results.is_file():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ statistics


def _values(rows: dict[int, dict[str, Any]], dim: str, categories: Sequence[str] | None) -> dict[int, float]:
    return {
        i: float(r[dim])
        for i, r in rows.items()
        if r.get(dim) is not None and (categories is None or r["category"] in categories)
    }


def bootstrap_ci(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values`` (paired differences, or 0/1 outcomes)."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(reps, len(values)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


COLUMNS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("object class", "object_class", None),
    ("colour", "colour", None),
    ("motion", "motion", None),
    ("multiple objects", "multiple_objects", None),
    ("spatial relation", "spatial_relation", None),
    ("overall", "overall", None),
    ("overall, single", "overall", ("single",)),
    ("overall, two objects", "overall", ("multiple", "relation")),
)


def table(rows: list[dict[str, Any]], order: Sequence[str], baseline: str = "unguided") -> str:
    """Markdown: accuracy (%) per dimension per config, then Δ vs the baseline with paired 95% intervals."""
    by_config: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_config[row["config"]][row["index"]] = row
    names = [n for n in order if n in by_config]
    base = by_config.get(baseline, {})
    head = "| configuration | pairs | " + " | ".join(c[0] for c in COLUMNS) + " | model calls | s / video |"
    lines = [
        "Accuracy (%) of the exact evaluator; 95% bootstrap interval of the overall accuracy in brackets.",
        "",
        head,
        "|" + "---|" * (len(COLUMNS) + 4),
    ]
    for name in names:
        cfg_rows = by_config[name]
        cells = []
        for _, dim, cats in COLUMNS:
            vals = np.asarray(list(_values(cfg_rows, dim, cats).values()))
            cell = f"{100 * vals.mean():.1f}" if len(vals) else "–"
            if dim == "overall" and cats is None and len(vals):
                lo, hi = bootstrap_ci(vals)
                cell += f" [{100 * lo:.1f}, {100 * hi:.1f}]"
            cells.append(cell)
        calls = np.mean([r["model_calls"] for r in cfg_rows.values()])
        secs = np.median([r["seconds"] for r in cfg_rows.values()])
        lines.append(f"| {name} | {len(cfg_rows)} | " + " | ".join(cells) + f" | {calls:.0f} | {secs:.2f} |")
    lines += [
        "",
        f"Change vs {baseline} (percentage points) on the pairs both ran, paired-bootstrap 95% interval.",
        "",
        "| configuration | overall | overall, two objects | multiple objects | spatial relation | motion |",
        "|---|---|---|---|---|---|",
    ]
    delta_cols = (
        ("overall", None),
        ("overall", ("multiple", "relation")),
        ("multiple_objects", None),
        ("spatial_relation", None),
        ("motion", None),
    )
    for name in names:
        if name == baseline or not base:
            continue
        cells = []
        for dim, cats in delta_cols:
            a, b = _values(by_config[name], dim, cats), _values(base, dim, cats)
            common = sorted(set(a) & set(b))
            if not common:
                cells.append("–")
                continue
            diff = np.asarray([a[i] - b[i] for i in common])
            lo, hi = bootstrap_ci(diff)
            mark = " *" if lo > 0 or hi < 0 else ""
            cells.append(f"{100 * diff.mean():+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]{mark}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("`*`: the interval excludes zero.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------- speed


def speed(videos: int = 6) -> str:
    """Median seconds per video, unguided vs the plugin's default guided run, through the pipeline (one process)."""
    import f2g_plugin_shapes.plugin as shapes_plugin

    from f2g_core.pipeline import Pipeline
    from f2g_core.plugins import load_plugins

    registry = load_plugins(extra=[("f2g-plugin-shapes", shapes_plugin)], entry_point_group=None).registry
    defaults = dict(shapes_plugin.default_run_config())
    runs = {"unguided": {**defaults, "guidance": {"method": "none"}}, "default guided": defaults}
    suite = build_suite(videos)
    lines = []
    for name, config in runs.items():
        with Pipeline.from_config(config, registry=registry) as pipeline:
            pipeline.generate(suite[0]["prompt"], seed=0)  # load and warm up
            times = []
            for pair in suite:
                started = time.perf_counter()
                pipeline.generate(pair["prompt"], seed=pair["seed"])
                times.append(time.perf_counter() - started)
        lines.append(f"{name}: median {np.median(times):.2f} s / video (min {min(times):.2f}, {len(times)} videos)")
    import torch

    return f"torch threads {torch.get_num_threads()}: " + "; ".join(lines)


# ------------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=400, help="suite size (default 400)")
    parser.add_argument("--quick", action="store_true", help="CI mode: 6 pairs, 4 configurations, 20 steps")
    parser.add_argument("--only", default="", help="comma-separated prefixes of configuration names to run")
    parser.add_argument("--best", default="0,6", help="start,length of the best guided range (sweep result)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/shapes_alignment"))
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from results.jsonl")
    parser.add_argument(
        "--per-category",
        type=int,
        default=None,
        help="run only the first N pairs of each category (a consistent subset of the suite)",
    )
    parser.add_argument("--categories", default="single,multiple,relation", help="categories to run")
    parser.add_argument("--speed", action="store_true", help="only time unguided vs the default guided run")
    args = parser.parse_args(argv)
    if args.speed:
        print(speed())
        return 0
    start, length = (int(v) for v in args.best.split(","))
    all_configs = configs((start, length))
    if args.quick:
        args.pairs = 6
        quick = {
            "unguided": {"rewards": [], "sampler": {"num_steps": 20}, "guidance": {"method": "none"}},
            "judge (n=3, steps 0-3)": {**guided(3, 0, 4), "sampler": {"num_steps": 20}},
            "oracle (n=3, steps 0-3)": {
                **guided(3, 0, 4, rewards=[{"type": "shapes-oracle"}]),
                "sampler": {"num_steps": 20},
            },
            "best-of-2 (judge, 13 steps)": {
                "rewards": [{"type": "shapes-judge"}],
                "sampler": {"num_steps": 13},
                "guidance": {"method": "best-of-n", "options": {"num_candidates": 2}},
            },
        }
        all_configs = quick
        args.out = args.out.with_name(args.out.name + "_quick")
    selected = {
        k: v
        for k, v in all_configs.items()
        if not args.only or any(k.startswith(p.strip()) for p in args.only.split(","))
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    suite = build_suite(args.pairs)
    cats = [c.strip() for c in args.categories.split(",")]
    rank: dict[str, int] = defaultdict(int)
    indices = []
    for i, pair in enumerate(suite):
        if pair["category"] in cats and (args.per_category is None or rank[pair["category"]] < args.per_category):
            indices.append(i)
        rank[pair["category"]] += 1
    if not args.table_only:
        run(suite, selected, results, args.workers, args.chunk, indices)
    rows = [r for r in load_rows(results) if r["index"] < len(suite)]
    text = table(rows, list(all_configs))
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
