"""Compute-matched scaling study on shapes: which search method wins at equal model calls?

Every method runs through f2g's own pipeline with the ``shapes`` backbone and the learned judge ``shapes-judge`` as
the reward, over the same (prompt, seed) pairs; the exact rule-based evaluator of f2g-plugin-shapes decides whether
each finished video follows its prompt. At budgets of about 75, 150 and 300 model calls per video each method runs
at the setting of ``SETTINGS`` (its number of calls is the documented formula, checked against the trace). The
95% intervals are percentile bootstraps over pairs; differences vs best-of-N at the same budget are paired.

    python benchmarks/scaling_study.py --pairs 400                 # resumable: rerun to continue
    python benchmarks/scaling_study.py --table-only                # table + plot from what has finished
    python benchmarks/scaling_study.py --pairs 4 --budgets 75 --out /tmp/study   # a smoke run

Rows are appended to ``OUT/results.jsonl`` as videos finish; ``OUT/table.md`` and ``OUT/scaling.png`` are rebuilt
at the end (and by ``--table-only``). Pairs run in a shuffled order, so a run cut short covers categories evenly.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from f2g_core.eval.summary import bootstrap


def bootstrap_ci(values: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval of the mean (the same bootstrap as ``f2g eval``'s summaries)."""
    estimate = bootstrap(values)
    return estimate.low, estimate.high


def build_suite(pairs: int) -> list[dict[str, Any]]:
    """The two-object items of f2g-plugin-shapes' ``shapes-benchmark`` suite (what ``f2g eval`` runs)."""
    from f2g_plugin_shapes.evaluation import ShapesBenchmarkSuite

    suite = ShapesBenchmarkSuite(ShapesBenchmarkSuite.Options(pairs=pairs, categories="multiple,relation"))
    return [{"prompt": item.prompt, "seed": item.seed, "category": item.category} for item in suite.items()]


def load_rows(results: Path) -> list[dict[str, Any]]:
    if not results.is_file():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def _cfg(method: str, steps: int, **options: Any) -> dict[str, Any]:
    return {"sampler": {"num_steps": steps, "eta": 1.0}, "guidance": {"method": method, "options": options}}


SETTINGS: dict[str, dict[int, dict[str, Any]]] = {
    "best-of-n": {
        75: _cfg("best-of-n", 25, num_candidates=3),
        150: _cfg("best-of-n", 50, num_candidates=3),
        300: _cfg("best-of-n", 50, num_candidates=6),
    },
    "free2guide": {
        75: _cfg("free2guide", 50, num_candidates=5, start=0, num_guided_steps=6),
        150: _cfg("free2guide", 50, num_candidates=5, start=0, num_guided_steps=25),
        300: _cfg("free2guide", 50, num_candidates=11, start=0, num_guided_steps=25),
    },
    "free2guide+lookahead": {
        75: _cfg("free2guide", 50, num_candidates=3, start=0, num_guided_steps=5, lookahead=1),
        150: _cfg("free2guide", 50, num_candidates=5, start=0, num_guided_steps=10, lookahead=1),
        300: _cfg("free2guide", 50, num_candidates=5, start=0, num_guided_steps=10, lookahead=4),
    },
    "smc": {
        75: _cfg("smc", 25, num_particles=3, lam=2.0),
        150: _cfg("smc", 50, num_particles=3, lam=2.0),
        300: _cfg("smc", 50, num_particles=6, lam=2.0),
    },
    "beam": {
        75: _cfg("beam", 25, num_beams=2, num_candidates=3, start=0, num_guided_steps=6),
        150: _cfg("beam", 50, num_beams=2, num_candidates=3, start=0, num_guided_steps=12),
        300: _cfg("beam", 50, num_beams=4, num_candidates=3, start=0, num_guided_steps=12),
    },
}
"""The setting of every method at every budget (model calls per video: see docs/samplers.md for each formula)."""
UNGUIDED = {"rewards": [], "sampler": {"num_steps": 50, "eta": 1.0}, "guidance": {"method": "none"}}


def configs(budgets: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    """Every configuration by name ``method@budget`` (and ``unguided``), cheapest budget first."""
    out: dict[str, dict[str, Any]] = {"unguided": UNGUIDED}
    for budget in budgets:
        for method, by_budget in SETTINGS.items():
            out[f"{method}@{budget}"] = {"rewards": [{"type": "shapes-judge"}], **by_budget[budget]}
    return out


def run(suite: list[dict[str, Any]], todo: dict[str, dict[str, Any]], results: Path) -> None:
    """Generate and evaluate every (pair, configuration) not yet in ``results``, pair by pair (resumable)."""
    import f2g_plugin_shapes.plugin as shapes_plugin
    from f2g_plugin_shapes.evaluator import evaluate

    from f2g_core.pipeline import Pipeline
    from f2g_core.plugins import load_plugins

    registry = load_plugins(extra=[("f2g-plugin-shapes", shapes_plugin)], entry_point_group=None).registry
    pipelines = {
        name: Pipeline.from_config({"backbone": {"type": "shapes"}, **cfg}, registry=registry)
        for name, cfg in todo.items()
    }
    done = {(r["config"], r["index"]) for r in load_rows(results)}
    order = list(range(len(suite)))
    np.random.default_rng(0).shuffle(order)
    started = time.time()
    with results.open("a") as handle:
        for count, index in enumerate(order, 1):
            pair = suite[index]
            for name, pipeline in pipelines.items():
                if (name, index) in done:
                    continue
                begin = time.perf_counter()
                result = pipeline.generate(prompt=pair["prompt"], seed=pair["seed"])
                calls = result.trace.totals()["model_calls"]
                if calls != pipeline.sampler.model_calls(pipeline.config.sampler.num_steps):
                    raise RuntimeError(f"{name}: {calls} model calls, but the formula says otherwise")
                verdict = evaluate(pair["prompt"], result.video)
                row = {"config": name, "index": index, **pair, "overall": verdict.dimensions["overall"]}
                row.update(model_calls=calls, seconds=time.perf_counter() - begin)
                handle.write(json.dumps(row) + "\n")
                handle.flush()
            print(f"[{time.time() - started:7.0f}s] pair {count}/{len(order)} done", flush=True)


def summarise(rows: list[dict[str, Any]], budgets: tuple[int, ...]) -> tuple[str, dict[str, list[tuple]]]:
    """The markdown table and, per method, (budget, mean calls, accuracy, lo, hi) points for the plot."""
    by: dict[str, dict[int, float]] = defaultdict(dict)
    calls: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by[row["config"]][row["index"]] = float(row["overall"])
        calls[row["config"]].append(int(row["model_calls"]))
    common = set.intersection(*(set(v) for v in by.values())) if by else set()
    pairs = sorted(common)
    lines = [
        f'Two-object prompts ("and" + spatial relations), {len(pairs)} (prompt, seed) pairs every configuration '
        "ran; accuracy (%) of the exact evaluator with 95% bootstrap intervals; Δ vs best-of-N at the same budget "
        "(percentage points, paired bootstrap).",
        "",
        "| budget | method | model calls / video | accuracy | Δ vs best-of-N |",
        "|---|---|---|---|---|",
    ]
    points: dict[str, list[tuple]] = defaultdict(list)
    if "unguided" in by and pairs:
        values = np.array([by["unguided"][i] for i in pairs])
        lo, hi = bootstrap_ci(values)
        lines.append(f"| 50 | unguided | 50 | {100 * values.mean():.1f} [{100 * lo:.1f}, {100 * hi:.1f}] | |")
        points["unguided"].append((50, 50.0, values.mean(), lo, hi))
    for budget in budgets:
        base_name = f"best-of-n@{budget}"
        for method in SETTINGS:
            name = f"{method}@{budget}"
            if name not in by or not pairs:
                continue
            values = np.array([by[name][i] for i in pairs])
            lo, hi = bootstrap_ci(values)
            delta = ""
            if method != "best-of-n" and base_name in by:
                diff = values - np.array([by[base_name][i] for i in pairs])
                dlo, dhi = bootstrap_ci(diff)
                delta = f"{100 * diff.mean():+.1f} [{100 * dlo:+.1f}, {100 * dhi:+.1f}]"
            mean_calls = float(np.mean(calls[name]))
            lines.append(
                f"| {budget} | {method} | {mean_calls:.0f} | {100 * values.mean():.1f} "
                f"[{100 * lo:.1f}, {100 * hi:.1f}] | {delta} |"
            )
            points[method].append((budget, mean_calls, values.mean(), lo, hi))
    return "\n".join(lines) + "\n", points


def plot(points: dict[str, list[tuple]], path: Path, pairs: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for method, series in points.items():
        x = [p[1] for p in series]
        y = [100 * p[2] for p in series]
        err = [[100 * (p[2] - p[3]) for p in series], [100 * (p[4] - p[2]) for p in series]]
        axis.errorbar(x, y, yerr=err, marker="o", capsize=3, label=method)
    axis.set_xscale("log")
    axis.set_xlabel("model calls per video")
    axis.set_ylabel("accuracy on two-object prompts (%)")
    axis.set_title(f"shapes: accuracy vs compute ({pairs} pairs, 95% bootstrap intervals)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=400, help="two-object (prompt, seed) pairs (default 400)")
    parser.add_argument("--budgets", default="75,150,300", help="comma-separated budgets to run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaling_study"))
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and plot")
    args = parser.parse_args(argv)
    budgets = tuple(int(b) for b in args.budgets.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    suite = [p for p in build_suite(round(args.pairs / 0.6)) if p["category"] in ("multiple", "relation")]
    if not args.table_only:
        run(suite[: args.pairs], configs(budgets), results)
    rows = load_rows(results)
    text, points = summarise(rows, budgets)
    (args.out / "table.md").write_text(text)
    pairs = int(text.split(" (prompt")[0].split("), ")[-1]) if rows else 0
    if rows:
        plot(points, args.out / "scaling.png", pairs)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
