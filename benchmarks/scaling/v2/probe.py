"""Fit budget rules on the dev split from probe runs that contain every setting of a method at once.

Two methods are decomposable, because every chain they keep follows its own keyed noise whatever the others do:

* ``chains`` — best-of-N and prune. Prune's kept chains follow exactly best-of-N's chains of the same number (the
  noise is pinned to the chain), and prune only decides which ones to finish, from each chain's x̂0 reward at its
  checkpoints. One run of ``--noises`` chains that scores every chain's x̂0 at every level gives, for every N ≤
  noises and every keep fraction and set of checkpoints, exactly the video best-of-N or prune makes for the pair.
* ``draft`` — draft-then-commit (``commit_eta: 0``). With N drafts of S calls and m commits the result is the best
  rewarded of the m commits whose drafts scored highest among the first N noises, each commit the deterministic full
  path from its noise. One run that drafts ``--noises`` chains at several S and commits every chain gives every
  (N, m, S).

The runs store, per dev pair, the rewards each setting ranks by and the exact evaluator's verdict on every finished
chain; ``--fit`` prints the dev accuracy of each setting that fits each budget, and of the current rule's setting.
That is checked here: the probe's draft scores and commit rewards equal those of a Draft run of the pipeline.

    .venv/bin/python benchmarks/scaling/v2/probe.py chains --out chains.json          # makes the runs (resumable)
    .venv/bin/python benchmarks/scaling/v2/probe.py chains --out chains.json --fit    # the table
    .venv/bin/python benchmarks/scaling/v2/probe.py chains --out chains.json --ceiling  # judge's pick vs any chain

``results/probe-chains-dev.json.gz`` is the chains probe of the 100 dev pairs (24 chains each), committed so the
fit and the ceiling are read without running anything (a ``.gz`` path is read and written compressed).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import itertools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from f2g_core import Pipeline
from f2g_core.default_plugins.samplers import BestOfN
from f2g_core.default_plugins.search_methods import Draft, Prune
from f2g_core.population import Population, Sampler, Step, Toolbox

BASE = Path(__file__).with_name("base.yaml")
DRAFT_STEPS = (2, 4, 8)
T = 25
RECORDS: dict[tuple[str, int], dict[str, Any]] = {}
"""What the probe samplers saw, per (prompt, seed) of the batch being sampled."""


def record(tools: Toolbox, population: Population, **values: Any) -> None:
    """Store each video's rows of ``values`` (NumPy arrays or tensors, one row per chain) under its pair."""
    for v, video in enumerate(tools.videos):  # type: ignore[attr-defined]
        mine = population.video == v
        entry = RECORDS.setdefault((video.prompt, video.seed), {})
        for name, array in values.items():
            entry[name] = array[mine].clone() if hasattr(array, "clone") else array[mine].tolist()


class DraftProbe(Draft):
    """Draft that scores every chain's draft at each S of ``DRAFT_STEPS`` and commits every chain."""

    name = "draft-probe"

    def start(self, tools: Toolbox) -> Step:
        noise = tools.with_x0(tools.start(self.options.num_candidates, pinned=True).population, 0)
        for steps in DRAFT_STEPS:
            record(
                tools, noise, **{f"draft_{steps}": tools.score(tools.lookahead(noise, 0, steps - 1), noise.video, 0)}
            )
        return Step(noise, parents=np.arange(len(noise)))

    def finish(self, tools: Toolbox, population: Population) -> Step:
        final = tools.score_finished(population)
        record(tools, population, commit_reward=final, latents=population.x)
        return tools.keep_best(population, final)


class ChainProbe(BestOfN):
    """Best-of-N that scores every chain's x̂0 at every level 1 … T − 1 (as prune's checkpoints would)."""

    name = "chain-probe"

    def start(self, tools: Toolbox) -> Step:
        return tools.start(self.options.num_candidates, pinned=True)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        if k + 1 >= tools.num_steps:
            return tools.plain(population, k)
        candidates = tools.propose(population, k, 1)
        scores = tools.score_candidates(candidates, k)
        record(tools, candidates.population, **{f"level_{k + 1}": scores})
        return tools.keep_best(candidates, scores, keep=len(population) // tools.num_videos)

    def finish(self, tools: Toolbox, population: Population) -> Step:
        final = tools.score_finished(population)
        record(tools, population, final_reward=final, latents=population.x)
        return tools.keep_best(population, final)


PROBES: dict[str, tuple[type[Sampler], str]] = {"draft": (DraftProbe, "draft"), "chains": (ChainProbe, "best-of-n")}
"""Each probe's sampler and the method whose options it takes."""


def opener(path: Path) -> Callable[..., IO[str]]:
    """``gzip.open`` for a ``.gz`` path (the committed probes), else ``open``."""
    return gzip.open if path.suffix == ".gz" else open


def read(path: Path) -> dict[str, Any]:
    """The probes in ``path``, by dev item id."""
    with opener(path)(path, "rt", encoding="utf-8") as file:
        return dict(json.load(file))


def make_runs(kind: str, out: Path, pairs: int, noises: int, batch: int) -> None:
    """Probe every dev pair not yet in ``out`` (rewritten after each batch, so a killed run resumes)."""
    import yaml
    from f2g_plugin_shapes.evaluation import ShapesBenchmarkSuite
    from f2g_plugin_shapes.evaluator import evaluate

    done: dict[str, Any] = read(out) if out.exists() else {}
    options = ShapesBenchmarkSuite.Options(pairs=pairs, categories="multiple+relation", split="dev")
    items = [item for item in ShapesBenchmarkSuite(options).items() if item.id not in done]
    probe, method = PROBES[kind]
    config = yaml.safe_load(BASE.read_text())
    config["sampler"] = {"num_steps": T, "eta": 1.0}
    commits = {"num_commits": noises} if kind == "draft" else {}
    config["guidance"] = {"method": method, "options": {"num_candidates": noises, **commits}}
    with Pipeline.from_config(config) as pipeline:
        pipeline.sampler = probe(pipeline.sampler.options)
        for begin in range(0, len(items), batch):
            chunk = items[begin : begin + batch]
            RECORDS.clear()
            pipeline.generate_pairs([(item.prompt, item.seed) for item in chunk])
            for item in chunk:
                entry = RECORDS[(item.prompt, item.seed)]
                videos = pipeline.backbone.decode(entry.pop("latents"), range(pipeline.backbone.num_frames))
                entry["passed"] = [evaluate(item.prompt, video).overall for video in videos]
                done[item.id] = {"prompt": item.prompt, "seed": item.seed, **entry}
            with opener(out)(out, "wt", encoding="utf-8") as file:
                json.dump(done, file)
            print(f"{len(done)} pairs probed", flush=True)


def top(values: list[float] | np.ndarray, keep: int) -> np.ndarray:
    """Rows of the ``keep`` highest values in row order (NaN last, ties to the lower row), as Tools.keep_best."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(-np.where(np.isfinite(array), array, -np.inf), kind="stable")
    return np.sort(order[:keep])


def best(rows: np.ndarray, rewards: list[float]) -> int:
    """The row of ``rows`` with the highest final reward (the methods' final choice)."""
    return int(rows[top(np.asarray(rewards)[rows], 1)[0]])


Setting = tuple[str, int, Callable[[dict[str, Any]], bool]]
"""A method's setting: its label, its model calls at T = 25, and its verdict on a probed pair."""


def setting(sampler: Sampler) -> Setting:
    """What ``sampler`` (best-of-N, prune or draft) would make of each probed pair, decided from the probe."""
    o = sampler.options
    if isinstance(sampler, Draft):

        def drafted(pair: dict[str, Any]) -> bool:
            committed = top(pair[f"draft_{o.draft_steps}"][: o.num_candidates], o.num_commits)
            return bool(pair["passed"][best(committed, pair["commit_reward"])])

        return f"draft N={o.num_candidates} m={o.num_commits} S={o.draft_steps}", sampler.model_calls(T), drafted
    if isinstance(sampler, Prune):
        live, steps = o.live(T), o.checkpoint_steps(T)

        def pruned(pair: dict[str, Any]) -> bool:
            alive = np.arange(o.num_candidates)
            for k in steps:
                alive = alive[top(np.asarray(pair[f"level_{k + 1}"])[alive], live[k + 1])]
            return bool(pair["passed"][best(alive, pair["final_reward"])])

        label = f"prune N={o.num_candidates} keep={o.keep} at={o.checkpoint_fractions}"
        return label, sampler.model_calls(T), pruned

    def best_of(pair: dict[str, Any]) -> bool:
        return bool(pair["passed"][best(np.arange(o.num_candidates), pair["final_reward"])])

    return f"best-of-n N={o.num_candidates}", sampler.model_calls(T), best_of


CHECKPOINTS: list[list[float]] = [[f] for f in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)] + [
    [0.25, 0.5, 0.75],
    [0.2, 0.4, 0.6, 0.8],
    [0.1, 0.2, 0.3],
    [0.2, 0.4],
    [0.3, 0.6],
    [0.1, 0.3],
    [0.4, 0.8],
]
"""Checkpoint fractions of the prune settings the fit tries."""


def grid(kind: str, noises: int) -> Iterator[Sampler]:
    """Every setting the fit tries: Draft(N, m, S), or best-of-N and prune(N, keep, checkpoints), N ≤ noises."""
    sizes = range(1, noises + 1)
    if kind == "draft":
        for n, m, steps in itertools.product(sizes, sizes, DRAFT_STEPS):
            if m <= n:
                yield Draft(Draft.Options(num_candidates=n, num_commits=m, draft_steps=steps))
        return
    for n in sizes:
        yield BestOfN(BestOfN.Options(num_candidates=n))
    for n, keep, fractions in itertools.product(sizes[1:], (0.25, 0.5), CHECKPOINTS):
        yield Prune(Prune.Options(num_candidates=n, keep=keep, checkpoint_fractions=fractions))


def shipped(method: str, budget: int) -> Sampler:
    """The setting the shipped budget rule picks for ``method`` at ``budget`` (T = 25)."""
    from f2g_core.config import load_config
    from f2g_core.pipeline import build_sampler
    from f2g_core.plugins import default_plugins

    config = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-judge"}],
        "sampler": {"num_steps": T},
        "guidance": {"method": method, "budget": {"model_calls": budget}},
    }
    return build_sampler(load_config(config), default_plugins().registry)


def families(kind: str) -> dict[str, Callable[[int], Sampler]]:
    """Candidate budget rules, each the shipped rule's code with other constants (a subclass's ``BUDGET_RULE``):
    what the fit picks is what ships."""
    rules: dict[str, Callable[[int], Sampler]] = {}
    if kind == "draft":
        for steps in DRAFT_STEPS:
            constants = {"BUDGET_RULE": {"draft_steps": steps}}
            rules[f"draft S={steps}"] = functools.partial(ruled, type("Rule", (Draft,), constants))
        return rules
    rules["best-of-n"] = functools.partial(ruled, BestOfN)
    for keep, fractions in itertools.product((0.25, 0.5), CHECKPOINTS):
        rule: dict[str, Any] = {"keep": keep, "checkpoint_fractions": fractions}
        rules[f"prune keep={keep} at={fractions}"] = functools.partial(
            ruled, type("Rule", (Prune,), {"BUDGET_RULE": rule})
        )
    return rules


def ruled(cls: type[Sampler], budget: int) -> Sampler:
    """``cls`` with the options its budget rule derives from ``budget`` at T = 25."""
    return cls(cls.Options.model_validate(cls.budget_options(budget, T, {}) or {}))


def fit_rules(kind: str, pairs: list[dict[str, Any]], budgets: list[int], noises: int) -> None:
    """Each candidate rule's dev accuracy at every budget (— where it needs more chains than were probed), ranked
    by the mean over the budgets where every rule could be read."""
    table: dict[str, list[float]] = {}
    for name, rule in families(kind).items():
        try:
            settings = [setting(rule(budget)) for budget in budgets]
        except ValueError as error:  # a rule must serve every budget
            print(f"  left out: {name} ({error})")
            continue
        table[name] = [
            100 * float(np.mean([verdict(p) for p in pairs]))
            if int(label.split("N=")[1].split()[0]) <= noises
            else math.nan
            for label, _, verdict in settings
        ]
    values = np.array(list(table.values()))
    read = (~np.isnan(values)).sum(axis=1)
    means = np.array([row[~np.isnan(row)].mean() if n else math.nan for row, n in zip(values, read, strict=True)])
    print(f"\nrules: dev accuracy % at {', '.join(map(str, budgets))} model calls; ranked by the budgets read, then")
    print("the mean over them")
    for index in np.lexsort((-np.nan_to_num(means, nan=-1), -read)):
        cells = "  ".join("    —" if np.isnan(v) else f"{v:5.1f}" for v in values[index])
        print(f"  {cells}   mean {means[index]:5.1f} of {read[index]}  {list(table)[index]}")


def fit(kind: str, out: Path, budgets: list[int], shown: int) -> None:
    """Dev accuracy of every setting that fits each budget, best first, and of the shipped rule's setting."""
    pairs = list(read(out).values())
    noises = min(len(p["passed"]) for p in pairs)

    def accuracy(verdict: Callable[[dict[str, Any]], bool]) -> float:
        return 100 * float(np.mean([verdict(p) for p in pairs]))

    scored = [(accuracy(verdict), label, calls) for label, calls, verdict in map(setting, grid(kind, noises))]
    print(f"{len(pairs)} dev pairs, {noises} noises each; accuracy % of the exact evaluator")
    for budget in budgets:
        fitting = sorted((s for s in scored if s[2] <= budget), key=lambda s: (-s[0], -s[2]))
        print(f"\nbudget {budget}:")
        for value, label, calls in fitting[:shown]:
            print(f"  {value:5.1f}  {label}  ({calls} calls)")
        for method in ("draft",) if kind == "draft" else ("best-of-n", "prune"):
            label, calls, verdict = setting(shipped(method, budget))
            note = "" if int(label.split("N=")[1].split()[0]) <= noises else f" (N > {noises}: not probed)"
            value = accuracy(verdict) if not note else math.nan
            print(f"  shipped rule: {value:5.1f}  {label}  ({calls} calls){note}")
    fit_rules(kind, pairs, budgets, noises)


def ceiling(out: Path) -> None:
    """What bounds best-of-N as N grows: the share of pairs where the judge's pick of the first N chains passes,
    against the share where any of them passes (the most any selection among those chains could reach)."""
    from f2g_eval.summary import bootstrap

    pairs = list(read(out).values())
    noises = min(len(p["passed"]) for p in pairs)
    print(f"{len(pairs)} pairs, {noises} chains each; % of pairs (95% bootstrap)")
    print("N    judge's pick passes     some chain passes       judge misses a passing chain")
    for n in sorted({1, 2, 3, 6, 12, 24, noises} & set(range(1, noises + 1))):
        picked = [float(p["passed"][best(np.arange(n), p["final_reward"])]) for p in pairs]
        some = [float(any(p["passed"][:n])) for p in pairs]
        cells = [bootstrap([100 * v for v in values]) for values in (picked, some, np.subtract(some, picked))]
        print(f"{n:<4} " + "    ".join(f"{e.mean:5.1f} [{e.low:5.1f}, {e.high:5.1f}]" for e in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kind", choices=sorted(PROBES), help="Which probe: chains (best-of-N, prune) or draft.")
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the probes (resumable).")
    parser.add_argument("--pairs", type=int, default=100, help="Dev pairs (split=dev, two-object categories).")
    parser.add_argument("--noises", type=int, default=24, help="Chains (initial noises) per pair.")
    parser.add_argument("--batch", type=int, default=4, help="Pairs sampled together (batched conditioning).")
    parser.add_argument("--fit", action="store_true", help="Print the table from --out instead of making runs.")
    parser.add_argument(
        "--ceiling", action="store_true", help="chains: print the judge's pick against any chain passing, by N."
    )
    parser.add_argument("--budgets", default="75,150,300,600", help="Model-call budgets of the table.")
    parser.add_argument("--show", type=int, default=10, help="Settings shown per budget.")
    args = parser.parse_args()
    if args.ceiling and args.kind != "chains":
        parser.error("--ceiling reads a chains probe (best-of-N's chains), not a draft probe: give `chains`")
    if args.ceiling:
        ceiling(args.out)
    elif args.fit:
        fit(args.kind, args.out, [int(b) for b in args.budgets.split(",")], args.show)
    else:
        make_runs(args.kind, args.out, args.pairs, args.noises, args.batch)


if __name__ == "__main__":
    main()
