"""The compute-matched scaling study on shapes, from ``f2g eval`` runs: which search method wins at equal model calls?

The study is two ``f2g eval`` runs of f2g-plugin-shapes' two-object prompts (``categories=multiple+relation``),
the learned judge as the reward and the exact evaluator (``--metric shapes``) as the measure of success:

1. a sweep on **dev** pairs of every variant in ``benchmarks/scaling/sweep`` (configs named
   ``METHOD@BUDGET~VARIANT``, each at about BUDGET model calls per video by its documented formula);
2. ``--select`` keeps, per method and budget, the variant with the best dev accuracy (ties: the best mean graded
   score) and writes it to ``benchmarks/scaling/test/METHOD@BUDGET.yaml``;
3. the **test** run of those configs on 400 other pairs, formatted here: accuracy with 95% bootstrap intervals,
   the paired difference against best-of-N at the same budget, and a plot of accuracy against model calls.

    f2g eval "shapes-benchmark:pairs=30,categories=multiple+relation,split=dev" -c benchmarks/scaling/sweep \\
        --metric shapes --workers 2 --no-report --out benchmarks/results/scaling-dev
    python benchmarks/scaling_table.py benchmarks/results/scaling-dev --select benchmarks/scaling/test
    f2g eval "shapes-benchmark:pairs=400,categories=multiple+relation" -c benchmarks/scaling/test \\
        --metric shapes --workers 2 --batch 8 --no-report --out benchmarks/results/scaling
    python benchmarks/scaling_table.py benchmarks/results/scaling --plot f2g_plugins/shapes/scaling.png \\
        --readme f2g_plugins/shapes/README.md --readme docs/samplers.md

Both runs are resumable (re-run the same command). This script only reads ``results.csv`` (and, for ``--select``
of grid configs, the store's ``configs`` table).

The v2 study (pending) runs the same three steps on a grid instead of hand-written variants: every method at every
budget and T, each method's options derived from the budget by its rule (docs/samplers.md#budgets), T chosen per
method and budget on ≥ 100 dev pairs:

    f2g eval "shapes-benchmark:pairs=100,categories=multiple+relation,split=dev" -c benchmarks/scaling/v2/base.yaml \
        --methods best-of-n,smc,beam,free2guide,prune,draft --budgets 75,150,300,600 --steps 15,25,50 \
        --metric shapes --workers 2 --batch 8 --no-report --out benchmarks/results/scaling-v2-dev
    python benchmarks/scaling_table.py benchmarks/results/scaling-v2-dev --select benchmarks/scaling/v2/test
    f2g eval "shapes-benchmark:pairs=400,categories=multiple+relation" -c benchmarks/scaling/v2/test \
        -c benchmarks/scaling/test/unguided.yaml --metric shapes --workers 2 --batch 8 --no-report \
        --out benchmarks/results/scaling-v2
    python benchmarks/scaling_table.py benchmarks/results/scaling-v2 --configs benchmarks/scaling/v2/test \
        --plot f2g_plugins/shapes/scaling.png --readme f2g_plugins/shapes/README.md --readme docs/samplers.md
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from f2g_eval.summary import bootstrap

sys.path.insert(0, str(Path(__file__).parent))
from shapes_table import replace_between_markers  # a sibling script, not a package

NAME = re.compile(r"^(?P<method>[^@~]+)@(?P<budget>\d+)(~(?P<variant>.+))?$")
BASELINE_METHOD = "best-of-n"
START, END = "<!-- scaling-table:start -->", "<!-- scaling-table:end -->"


@dataclass(frozen=True)
class Config:
    """One configuration's results: overall pass (0/1) and graded score per pair, model calls per video."""

    name: str
    method: str
    budget: int
    passed: dict[str, float]
    score: dict[str, float]
    calls: float


def load(eval_dir: Path) -> dict[str, Config]:
    """Every configuration of an eval run's ``results.csv`` (unguided has budget 50, its model calls)."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (eval_dir / "results.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["config"]].append(row)
    out = {}
    for name, mine in rows.items():
        match = NAME.match(name)
        method, budget = (match["method"], int(match["budget"])) if match else (name, 0)
        calls = float(np.mean([float(r["model_calls"]) for r in mine]))
        out[name] = Config(
            name=name,
            method=method,
            budget=budget or round(calls),
            passed={f"{r['item_id']}/{r['seed']}": float(r["shapes.overall"]) for r in mine},
            score={f"{r['item_id']}/{r['seed']}": float(r["shapes.score"]) for r in mine},
            calls=calls,
        )
    return out


def stored_config(eval_dir: Path, name: str) -> str:
    """The run config named ``name`` as ``f2g eval`` stored it in ``eval_dir``'s results store, as YAML."""
    import json
    import sqlite3

    import yaml

    with sqlite3.connect(eval_dir / "results.sqlite") as db:
        (text,) = db.execute("SELECT config FROM configs WHERE name = ?", (name,)).fetchone()
    data = json.loads(text)
    data.pop("prompt", None), data.pop("seed", None)
    return f"# scaling study: {name}, as the dev run ran it\n" + yaml.safe_dump(data, sort_keys=False)


def select(configs: dict[str, Config], sweep: Path, into: Path, eval_dir: Path) -> str:
    """Copy the best variant of every (method, budget) to ``into/METHOD@BUDGET.yaml`` (from ``sweep``, or from the
    eval's store for a grid config); a report."""
    best: dict[tuple[str, int], Config] = {}
    lines = ["| budget | method | variant | dev accuracy | mean score | model calls |", "|---|---|---|---|---|---|"]
    for config in sorted(configs.values(), key=lambda c: (c.budget, c.method, c.name)):
        accuracy, score = np.mean(list(config.passed.values())), np.mean(list(config.score.values()))
        lines.append(
            f"| {config.budget} | {config.method} | {config.name} | {100 * accuracy:.1f} | {score:.3f} | "
            f"{config.calls:.0f} |"
        )
        key = (config.method, config.budget)
        if key not in best or (accuracy, score) > (
            np.mean(list(best[key].passed.values())),
            np.mean(list(best[key].score.values())),
        ):
            best[key] = config
    into.mkdir(parents=True, exist_ok=True)
    lines += ["", "Selected:"]
    for (method, budget), config in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        target = into / (f"{method}@{budget}.yaml" if NAME.match(config.name) else f"{config.name}.yaml")
        if (sweep / f"{config.name}.yaml").is_file():
            shutil.copyfile(sweep / f"{config.name}.yaml", target)
        else:  # a grid config (f2g eval --methods/--budgets/--steps): as the eval stored it
            target.write_text(stored_config(eval_dir, config.name), encoding="utf-8")
        lines.append(f"- {target.name} ← {config.name}")
    return "\n".join(lines)


def _interval(values: np.ndarray, signed: bool = False) -> str:
    estimate = bootstrap(values)
    sign = "+" if signed else ""
    return f"{100 * estimate.mean:{sign}.1f} [{100 * estimate.low:{sign}.1f}, {100 * estimate.high:{sign}.1f}]"


def table(configs: dict[str, Config], settings: dict[str, str]) -> tuple[str, list[str]]:
    """The markdown table (pairs every configuration ran; ``settings`` by config name) and the pairs it used."""
    pairs = sorted(set.intersection(*(set(c.passed) for c in configs.values())))
    lines = [
        f'Two-object prompts ("and" + spatial relations), {len(pairs)} (prompt, seed) pairs every configuration '
        "ran; accuracy (%) of the exact evaluator with 95% bootstrap intervals; Δ vs best-of-N at the same budget "
        "in percentage points (paired bootstrap; `*`: the interval excludes zero).",
        "",
        "| budget | method | setting | model calls / video | accuracy | Δ vs best-of-N |",
        "|---|---|---|---|---|---|",
    ]
    for config in sorted(configs.values(), key=lambda c: (c.budget, c.method != BASELINE_METHOD, c.method)):
        values = np.array([config.passed[p] for p in pairs])
        base = configs.get(f"{BASELINE_METHOD}@{config.budget}")
        delta = ""
        if base is not None and base is not config:
            diff = values - np.array([base.passed[p] for p in pairs])
            estimate = bootstrap(diff)
            delta = _interval(diff, signed=True) + (" *" if estimate.low > 0 or estimate.high < 0 else "")
        lines.append(
            f"| {config.budget} | {config.method} | {settings.get(config.name, '')} | {config.calls:.0f} | "
            f"{_interval(values)} | {delta} |"
        )
    return "\n".join(lines), pairs


def read_settings(folder: Path) -> dict[str, str]:
    """``T=25, num_candidates=3``: every config of ``folder`` by name, from its ``num_steps`` and options."""
    import yaml

    settings = {}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        options = data.get("guidance", {}).get("options", {}) or {}
        budget = (data.get("guidance", {}).get("budget") or {}).get("model_calls")
        parts = [f"T={data['sampler']['num_steps']}", *(f"{k}={v}" for k, v in options.items())]
        parts += [] if budget is None else [f"budget={budget} (options by the method's rule)"]
        settings[path.stem] = ", ".join(parts)
    return settings


def plot(configs: dict[str, Config], pairs: list[str], path: Path) -> None:
    """Accuracy against model calls, one line per method (unguided a point), 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    by_method: dict[str, list[Config]] = defaultdict(list)
    for config in configs.values():
        by_method[config.method].append(config)
    for method, series in sorted(by_method.items()):
        series.sort(key=lambda c: c.calls)
        estimates = [bootstrap(np.array([c.passed[p] for p in pairs])) for c in series]
        y = [100 * e.mean for e in estimates]
        err = [[100 * (e.mean - e.low) for e in estimates], [100 * (e.high - e.mean) for e in estimates]]
        axis.errorbar([c.calls for c in series], y, yerr=err, marker="o", capsize=3, label=method)
    axis.set_xscale("log")
    axis.set_xlabel("model calls per video")
    axis.set_ylabel("accuracy on two-object prompts (%)")
    axis.set_title(f"shapes: accuracy vs compute ({len(pairs)} pairs, 95% bootstrap intervals)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dir", type=Path, help="the --out of the f2g eval run")
    parser.add_argument("--select", type=Path, help="write the best dev variant per method and budget here")
    parser.add_argument("--sweep", type=Path, default=Path("benchmarks/scaling/sweep"), help="the sweep configs")
    parser.add_argument("--configs", type=Path, default=Path("benchmarks/scaling/test"), help="the test configs")
    parser.add_argument("--plot", type=Path, help="write the accuracy-vs-model-calls plot here")
    parser.add_argument("--readme", type=Path, action="append", default=[], help="replace the table there")
    args = parser.parse_args(argv)
    configs = load(args.eval_dir)
    if args.select is not None:
        print(select(configs, args.sweep, args.select, args.eval_dir))
        return 0
    text, pairs = table(configs, read_settings(args.configs))
    if args.plot is not None:
        plot(configs, pairs, args.plot)
    for path in args.readme:
        replace_between_markers(path, text, START, END)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
