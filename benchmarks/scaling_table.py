"""The compute-matched scaling study on shapes, from ``f2g eval`` runs: which search method wins at equal cost —
model calls, seconds and dollars?

The study is two ``f2g eval`` runs of f2g-plugin-shapes' two-object prompts (``categories=multiple+relation``),
the learned judge as the reward and the exact evaluator (``--metric shapes``) as the measure of success: a **dev**
run whose best setting per method and budget ``--select`` writes out, and a **test** run of those settings on
other pairs, formatted here. For every configuration the script reports accuracy with 95% bootstrap intervals and
its costs per video in four currencies — model calls, reward calls and rounds; seconds in regime (i) (the
in-process judge, measured); seconds and dollars in regime (ii) (an API reward at 2 s per call, 8 in flight,
$0.005 per call, modelled from each run's trace: benchmarks/api_cost.py says how and checks the model against a
fake LVLM server) — the paired difference against best-of-N at the same budget and against the cheapest best-of-N
costing at least as much in each currency, a monotonicity check of each method's curve in budget (a drop whose
paired interval excludes zero is flagged), and a plot of accuracy against each cost.

It reads the eval directory's results store (results.sqlite, every configuration any command put there) and each
row's trace.json, so a study run budget by budget into one ``--out`` is read whole; configurations that have not
run every pair yet are named and left out.

The v2 study (a grid: every method at every budget, options derived from the budget by each method's rule,
docs/samplers.md#budgets; one T = 25 for every method and budget, so a curve is a function of the budget alone)
is run, or resumed, cell by cell by benchmarks/scaling/v2/run.sh, which keeps every finished job in the
repository (benchmarks/scaling/v2/results/, archive.py) so a fresh machine does only what nobody has done:

    bash benchmarks/scaling/v2/run.sh dev OUT-DEV          # 100 dev pairs: fit the rules, pick the default
    bash benchmarks/scaling/v2/run.sh test OUT-TEST        # 400 test pairs, disjoint from dev
    python benchmarks/scaling_table.py OUT-DEV --seconds-per-call 0.0155 --readme docs/samplers.md --marker dev-grid
    python benchmarks/scaling_table.py OUT-TEST --seconds-per-call 0.0155 --plot f2g_plugins/shapes/scaling.png \
        --readme f2g_plugins/shapes/README.md --readme docs/samplers.md

``archive.py load benchmarks/scaling/v2/results/scaling-v2-test OUT-TEST`` alone restores the store, so the
table is remade without running anything. The v1 study (hand-written variants in ``benchmarks/scaling/sweep``,
selected with ``--select benchmarks/scaling/test``, every ``f2g eval`` resumable) is read the same way.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import sqlite3
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from f2g_eval.summary import bootstrap

sys.path.insert(0, str(Path(__file__).parent))
from api_cost import API, Regime, modelled  # sibling scripts, not a package
from shapes_table import replace_between_markers

NAME = re.compile(r"^(?P<method>[^@~]+)@(?P<budget>\d+)(~(?P<variant>.+))?$")
BASELINE_METHOD = "best-of-n"
MARKER = "scaling-table"
"""The generated table's place in a README: between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->``."""
CURRENCIES = {
    "calls": "model calls / video",
    "seconds_i": "seconds / video, regime (i)",
    "seconds_ii": "seconds / video, regime (ii), modelled",
    "dollars": "$ / video, regime (ii)",
}
"""The costs every configuration is compared in (means per video)."""


@dataclass(frozen=True)
class Config:
    """One configuration's results: pass (0/1) and graded score per (item, seed) pair, mean costs per video."""

    name: str
    method: str
    budget: int
    passed: dict[str, float]
    score: dict[str, float]
    cost: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)
    """Mean reward calls and rounds per video."""
    setting: str = ""
    """T and the options as run (the budget rule's choice for a grid config)."""


def _setting(trace: dict) -> str:
    """``T=25, num_candidates=3``: the counts and lists among the options the run used."""
    options = trace.get("options") or {}
    shown = [f"{k}={v}" for k, v in options.items() if isinstance(v, int | list) and not isinstance(v, bool) and v]
    return ", ".join([f"T={trace['num_steps']}", *shown])


def load(eval_dir: Path, regime: Regime = API, per_call: float | None = None) -> dict[str, Config]:
    """Every configuration in an eval directory's results store (all its runs, whatever the last command ran;
    ``results.csv`` holds only the last command's), with its costs; unguided gets its model calls as budget.
    Regime (ii) is modelled from each row's trace.json (benchmarks/api_cost.py). ``per_call``: seconds of compute
    per model call, to use instead of the measured seconds (which follow a shared machine's load)."""
    path = eval_dir / "results.sqlite"
    if not path.is_file():
        raise SystemExit(f"{path}: no results store; give the --out of an f2g eval run")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        records = db.execute(
            "SELECT config, item_id, seed, metrics, model_calls, reward_calls, reward_rounds, seconds, run_dir "
            "FROM results"
        ).fetchall()
    rows: dict[str, list[tuple]] = defaultdict(list)
    for record in records:
        rows[record[0]].append(record)
    out = {}
    for name, mine in rows.items():
        passed, score, costs, counts = {}, {}, defaultdict(list), defaultdict(list)
        setting = ""
        for _, item, seed, metrics, calls, reward_calls, rounds, seconds, run_dir in mine:
            values = json.loads(metrics)
            passed[f"{item}/{seed}"] = float(values["shapes.overall"])
            score[f"{item}/{seed}"] = float(values["shapes.score"])
            trace = json.loads((eval_dir / run_dir / "trace.json").read_text(encoding="utf-8"))
            compute = None if per_call is None else calls * per_call
            seconds_ii, dollars = modelled(trace, regime, compute)
            seconds = seconds if compute is None else compute
            for key, value in zip(CURRENCIES, (calls, seconds, seconds_ii, dollars), strict=True):
                costs[key].append(value)
            counts["reward calls"].append(reward_calls)
            counts["rounds"].append(rounds)
            setting = setting or _setting(trace)
        match = NAME.match(name)
        method, budget = (match["method"], int(match["budget"])) if match else (name, 0)
        mean = {key: float(np.mean(values)) for key, values in costs.items()}
        out[name] = Config(
            name=name,
            method=method,
            budget=budget or round(mean["calls"]),
            passed=passed,
            score=score,
            cost=mean,
            counts={key: float(np.mean(values)) for key, values in counts.items()},
            setting=setting,
        )
    return out


def complete(configs: dict[str, Config]) -> tuple[dict[str, Config], list[str]]:
    """The configurations that ran every pair any of them ran, and a note per one still running (left out)."""
    if not configs:
        raise SystemExit("the results store has no finished job yet; run (or resume) the f2g eval first")
    largest = max(len(c.passed) for c in configs.values())
    done = {n: c for n, c in configs.items() if len(c.passed) == largest}
    notes = [f"{n}: {len(c.passed)} of {largest} pairs (left out)" for n, c in configs.items() if n not in done]
    return done, notes


def stored_config(eval_dir: Path, name: str) -> str:
    """The run config named ``name`` as ``f2g eval`` stored it in ``eval_dir``'s results store, as YAML."""
    import yaml

    with sqlite3.connect(eval_dir / "results.sqlite") as db:
        (text,) = db.execute("SELECT config FROM configs WHERE name = ?", (name,)).fetchone()
    data = json.loads(text)
    data.pop("prompt", None), data.pop("seed", None)
    return f"# scaling study: {name}, as the dev run ran it\n" + yaml.safe_dump(data, sort_keys=False)


def _accuracy(config: Config, pairs: list[str] | None = None) -> tuple[float, float]:
    keys = pairs if pairs is not None else list(config.passed)
    return float(np.mean([config.passed[p] for p in keys])), float(np.mean([config.score[p] for p in keys]))


def select(configs: dict[str, Config], sweep: Path, into: Path, eval_dir: Path) -> str:
    """Copy the best variant of every (method, budget) to ``into/METHOD@BUDGET.yaml`` (from ``sweep``, or from the
    eval's store for a grid config); a report. Ties in dev accuracy go to the best mean graded score."""
    best: dict[tuple[str, int], Config] = {}
    lines = ["| budget | method | variant | dev accuracy | mean score | model calls |", "|---|---|---|---|---|---|"]
    for config in sorted(configs.values(), key=lambda c: (c.budget, c.method, c.name)):
        accuracy, score = _accuracy(config)
        lines.append(
            f"| {config.budget} | {config.method} | {config.name} | {100 * accuracy:.1f} | {score:.3f} | "
            f"{config.cost['calls']:.0f} |"
        )
        key = (config.method, config.budget)
        if key not in best or (accuracy, score) > _accuracy(best[key]):
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


def _delta(config: Config, base: Config, pairs: list[str]) -> str:
    """Paired difference in accuracy, points, with ``*`` when its 95% interval excludes zero."""
    diff = np.array([config.passed[p] - base.passed[p] for p in pairs])
    estimate = bootstrap(diff)
    return _interval(diff, signed=True) + (" *" if estimate.low > 0 or estimate.high < 0 else "")


def _order(configs: dict[str, Config]) -> list[Config]:
    return sorted(configs.values(), key=lambda c: (c.budget, c.method != BASELINE_METHOD, c.method, c.name))


def table(configs: dict[str, Config], pairs: list[str], regime: Regime = API, per_call: float | None = None) -> str:
    """Accuracy and every cost per configuration, with the paired difference against best-of-N at the same
    budget (model calls)."""
    compute = "as measured" if per_call is None else f"priced at {1000 * per_call:g} ms per model call, not measured"
    lines = [
        f'Two-object prompts ("and" + spatial relations), {len(pairs)} (prompt, seed) pairs every configuration '
        "ran; accuracy (%) of the exact evaluator with 95% bootstrap intervals; Δ vs best-of-N at the same budget "
        "of model calls in percentage points (paired bootstrap; `*`: the interval excludes zero). Costs are means "
        "per video: regime (i) seconds (the in-process judge), regime (ii) seconds and dollars modelled from each "
        f"run's trace for an API reward at {regime.latency:g} s per call, {regime.concurrency} in flight, "
        f"${regime.price:g} per call (benchmarks/api_cost.py); compute seconds in both regimes {compute}.",
        "",
        "| budget | method | setting | model calls | reward calls | rounds | s (i) | s (ii) | $ (ii) | accuracy | "
        "Δ vs best-of-N |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in _order(configs):
        values = np.array([config.passed[p] for p in pairs])
        base = configs.get(f"{BASELINE_METHOD}@{config.budget}") or next(
            (c for c in configs.values() if c.method == BASELINE_METHOD and c.budget == config.budget), None
        )
        delta = "" if base is None or base is config else _delta(config, base, pairs)
        cost, counts = config.cost, config.counts
        lines.append(
            f"| {config.budget} | {config.method} | {config.setting} | {cost['calls']:.0f} | "
            f"{counts['reward calls']:.0f} | {counts['rounds']:.1f} | {cost['seconds_i']:.1f} | "
            f"{cost['seconds_ii']:.1f} | {cost['dollars']:.3f} | {_interval(values)} | {delta} |"
        )
    return "\n".join(lines)


def matched(configs: dict[str, Config], pairs: list[str], dearer: bool = True) -> str:
    """Each method against best-of-N at about its cost, in each currency. The grid has best-of-N at a few costs
    only, so the exact match is bracketed: ``dearer``, the cheapest best-of-N costing no less (a win there is a
    win at equal cost); else the dearest costing no more (a loss there is a loss at equal cost). Blank where the
    grid has no such best-of-N."""
    baselines = [c for c in configs.values() if c.method == BASELINE_METHOD]
    currencies = [k for k in CURRENCIES if k != "calls"]
    sign, side = ("≥", "equal or greater") if dearer else ("≤", "equal or lower")
    lines = [
        f"Δ vs best-of-N at {side} cost: against the {'cheapest' if dearer else 'dearest'} best-of-N configuration "
        f"costing {'at least' if dearer else 'at most'} as much per video in that currency (named; paired, points, "
        "`*`: the 95% interval excludes zero).",
        "",
        "| method | " + " | ".join(f"vs best-of-N at {sign} {CURRENCIES[k]}" for k in currencies) + " |",
        "|---|" + "---|" * len(currencies),
    ]
    for config in _order(configs):
        if config.method == BASELINE_METHOD or NAME.match(config.name) is None:
            continue
        cells = []
        for key in currencies:
            if dearer:
                fits = [b for b in baselines if b.cost[key] >= config.cost[key] - 1e-9]
                base = min(fits, key=lambda b: b.cost[key], default=None)
            else:
                fits = [b for b in baselines if b.cost[key] <= config.cost[key] + 1e-9]
                base = max(fits, key=lambda b: b.cost[key], default=None)
            cells.append("" if base is None else f"{_delta(config, base, pairs)} ({base.name})")
        lines.append(f"| {config.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def monotonicity(configs: dict[str, Config], pairs: list[str]) -> tuple[str, list[str]]:
    """Each method's accuracy from one budget to the next (paired): a drop whose 95% interval excludes zero is
    non-monotone beyond noise (flagged); a drop within the interval is noted. Returns the text and the flagged."""
    by_method: dict[str, list[Config]] = defaultdict(list)
    for config in configs.values():
        if NAME.match(config.name):
            by_method[config.method].append(config)
    lines, flagged = ["Monotonicity in budget (paired change in accuracy from each budget to the next, points):"], []
    for method, series in sorted(by_method.items()):
        series.sort(key=lambda c: c.budget)
        steps, verdict = [], "monotone"
        for low, high in itertools.pairwise(series):
            diff = np.array([high.passed[p] - low.passed[p] for p in pairs])
            estimate = bootstrap(diff)
            steps.append(f"{low.budget}→{high.budget}: {_interval(diff, signed=True)}")
            if estimate.high < 0:
                verdict = "NON-MONOTONE (a drop beyond noise)"
            elif estimate.mean < 0 and verdict == "monotone":
                verdict = "monotone within noise (a drop inside the interval)"
        if verdict.startswith("NON"):
            flagged.append(method)
        lines.append(f"- {method}: {verdict}; " + ("; ".join(steps) or "one budget"))
    return "\n".join(lines), flagged


def plot(configs: dict[str, Config], pairs: list[str], path: Path) -> None:
    """Accuracy against each cost, one panel per currency, one line per method (unguided a point), 95%
    intervals as error bars; methods nudged sideways (±4% at most) so points at equal cost do not hide each other;
    one legend under the panels, so it covers no data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure, axes = plt.subplots(2, 2, figsize=(10, 7.6))
    by_method: dict[str, list[Config]] = defaultdict(list)
    for config in configs.values():
        by_method[config.method].append(config)
    for axis, (key, label) in zip(axes.flat, CURRENCIES.items(), strict=True):
        for index, (method, series) in enumerate(sorted(by_method.items())):
            series.sort(key=lambda c: c.cost[key])
            nudge = 1.0 + 0.08 * (index / max(len(by_method) - 1, 1) - 0.5)
            estimates = [bootstrap(np.array([c.passed[p] for p in pairs])) for c in series]
            y = [100 * e.mean for e in estimates]
            err = [[100 * (e.mean - e.low) for e in estimates], [100 * (e.high - e.mean) for e in estimates]]
            x = [nudge * c.cost[key] for c in series]
            axis.errorbar(x, y, yerr=err, marker="o", capsize=3, label=method)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel(label)
        axis.set_ylabel("accuracy (%)")
        axis.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=9)
    figure.suptitle(f"shapes, two-object prompts: accuracy vs cost ({len(pairs)} pairs, 95% bootstrap intervals)")
    figure.tight_layout(rect=(0, 0.06, 1, 0.97))
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dir", type=Path, help="the --out of the f2g eval run")
    parser.add_argument("--select", type=Path, help="write the best dev variant per method and budget here")
    parser.add_argument("--sweep", type=Path, default=Path("benchmarks/scaling/sweep"), help="the sweep configs")
    parser.add_argument("--plot", type=Path, help="write the accuracy-vs-cost plot here")
    parser.add_argument("--readme", type=Path, action="append", default=[], help="replace the table there")
    parser.add_argument(
        "--marker",
        default=MARKER,
        help="the table's markers in the --readme files: <!-- MARKER:start --> … <!-- MARKER:end --> (one file can "
        "hold several tables, e.g. a dev grid and the test split)",
    )
    parser.add_argument("--latency", type=float, default=API.latency, help="regime (ii): seconds per reward call")
    parser.add_argument("--concurrency", type=int, default=API.concurrency, help="regime (ii): calls in flight")
    parser.add_argument("--price", type=float, default=API.price, help="regime (ii): dollars per reward call")
    parser.add_argument(
        "--seconds-per-call",
        type=float,
        help="compute seconds per model call instead of the measured seconds (a run on a shared machine)",
    )
    args = parser.parse_args(argv)
    regime = Regime(args.latency, args.concurrency, args.price)
    configs, notes = complete(load(args.eval_dir, regime, args.seconds_per_call))
    if args.select is not None:
        print(select(configs, args.sweep, args.select, args.eval_dir))
        print("\n".join(notes))
        return 0
    pairs = sorted(set.intersection(*(set(c.passed) for c in configs.values())))
    report, flagged = monotonicity(configs, pairs)
    text = "\n\n".join(
        [
            table(configs, pairs, regime, args.seconds_per_call),
            matched(configs, pairs),
            matched(configs, pairs, dearer=False),
            report,
        ]
    )
    if args.plot is not None:
        plot(configs, pairs, args.plot)
    for path in args.readme:
        replace_between_markers(path, text, f"<!-- {args.marker}:start -->", f"<!-- {args.marker}:end -->")
    print(text)
    print("\n".join(notes))
    if flagged:
        print(f"non-monotone beyond noise: {', '.join(flagged)} (fix the budget rule on dev pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
