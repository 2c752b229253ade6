"""Regime (ii) of the scaling study: what a run would cost with an API reward, modelled from its trace — and a
check of that model against real runs on a fake OpenAI-compatible LVLM server.

Why a model instead of a second study: a search method's behaviour (which candidates it makes, how many it scores
and in how many sequential rounds) does not depend on how long a reward call takes or what it costs. So regime (ii)
— a reward behind an API at ``latency`` seconds per call, ``concurrency`` calls in flight, ``price`` dollars per
call — is regime (i) (the in-process shapes judge) with other costs. From each run's trace:

    seconds_ii = (measured seconds − measured reward seconds)
                 + Σ over rounds ⌈calls in the round / concurrency⌉ × latency
    dollars    = reward calls × price

A trace record (a step, or the final choice) carries its reward calls and rounds; its calls are taken as spread
evenly over its rounds. In a batched eval run (``--batch``) the phase seconds are the shared batch's, so the
measured reward share is the reward phase's fraction of the batch's timed phases (denoise, transition, decode,
reward; the look-ahead is timed inside the denoising). The modelled seconds are one video's latency as if made
alone (``f2g generate``), its rounds not overlapping other videos' rounds.

Check (this script's ``main``): for each method at ``--budget`` model calls, one video with the shapes judge
(regime i) and the same video with the ``openai`` reward on the fake server (``latency`` s per request, the
reward's ``max_concurrency`` = ``concurrency``, ``price`` per call through the reward's price table). It prints
the reward calls and rounds of both runs (the search structure the model carries over from regime i), the API
wait modelled from the regime-(ii) trace against its measured reward phase, the whole run modelled against its
measured wall time, and the dollars modelled from the regime-(i) trace against those the reward reported:

    python benchmarks/api_cost.py [--methods best-of-n,smc,beam,free2guide,prune,draft] [--budget 75] [--steps 25]

The fake server answers a random score per request (seeded), so candidates differ as a judge's would (a constant
answer would make Free²Guide's skip rule skip every step). It takes Σ rounds × latency plus the denoising of
two videos per method. The non-reward seconds are not compared across the two runs: on a shared machine they
follow its load, not the method.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TIMED = ("denoise", "transition", "decode", "reward")
"""Phases that partition a run's wall time (the look-ahead is timed inside the denoising)."""


@dataclass(frozen=True)
class Regime:
    """An API-like reward: seconds per call, calls in flight at once, dollars per call."""

    latency: float = 2.0
    concurrency: int = 8
    price: float = 0.005


API = Regime()
"""The study's regime (ii): 2 s per call, 8 in flight, $0.005 per call (about one GPT-4o call on a 2×2 grid)."""


def reward_wait(records: Iterable[Mapping[str, Any]], regime: Regime = API) -> float:
    """Seconds the rounds of these trace records would wait on the API: each round's calls in waves of
    ``concurrency``, each wave ``latency`` seconds."""
    total = 0.0
    for record in records:
        rounds, calls = int(record.get("reward_rounds", 0) or 0), int(record.get("reward_calls", 0) or 0)
        if rounds:
            total += rounds * math.ceil(math.ceil(calls / rounds) / regime.concurrency) * regime.latency
    return total


def non_reward_seconds(trace: Mapping[str, Any]) -> float:
    """The run's measured seconds less its share of reward time (batch-shared phase seconds made a fraction)."""
    seconds = trace["totals"]["seconds"]
    timed = sum(float(seconds.get(phase, 0.0)) for phase in TIMED)
    share = float(seconds.get("reward", 0.0)) / timed if timed > 0 else 0.0
    return float(seconds["total"]) * (1.0 - share)


def records(trace: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every record of a trace.json that can carry reward calls: the steps and the final choice."""
    return [*trace["steps"], *([trace["final"]] if trace.get("final") else [])]


def modelled(trace: Mapping[str, Any], regime: Regime = API, compute: float | None = None) -> tuple[float, float]:
    """(seconds, dollars) of this run in ``regime``, from its trace.json (as a dict). ``compute``: the non-reward
    seconds to use instead of the measured ones (on a shared machine those follow its load, not the method)."""
    calls = int(trace["totals"]["reward_calls"])
    own = non_reward_seconds(trace) if compute is None else compute
    return own + reward_wait(records(trace), regime), calls * regime.price


def _run(config: dict[str, Any], extra: list[tuple[str, Any]]) -> tuple[dict[str, Any], float]:
    """One video; its trace as trace.json writes it, and the wall seconds of ``generate``."""
    from f2g_core.pipeline import Pipeline
    from f2g_core.testing import isolated_plugins

    with Pipeline.from_config(config, registry=isolated_plugins(extra).registry) as pipeline:
        pipeline.load()
        start = time.perf_counter()
        result = pipeline.generate()
        wall = time.perf_counter() - start
    return result.trace.to_dict(), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="best-of-n,smc,beam,free2guide,prune,draft")
    parser.add_argument("--budget", type=int, default=75, help="model calls per video")
    parser.add_argument("--steps", type=int, default=25, help="sampling steps T")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default="a yellow triangle above a green circle")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import f2g_plugin_openai.plugin as openai_plugin
    import f2g_plugin_shapes.plugin as shapes_plugin
    from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest

    draw = random.Random(args.seed)

    def answer(_: RecordedRequest) -> Answer:
        """A random score with a random runner-up, so the expected score is continuous; 1000 input tokens."""
        best, other = draw.sample(range(1, 10), 2)
        p = draw.uniform(0.5, 1.0)
        return Answer(f"Answer: {best}", probs={str(best): p, str(other): 1 - p}, input_tokens=1000, output_tokens=0)

    extra = [("f2g-plugin-shapes", shapes_plugin), ("f2g-plugin-openai", openai_plugin)]
    per_million = API.price / 1000 * 1e6  # 1000 input tokens per call
    print(
        f"regime (ii): {API.latency:g} s per reward call, {API.concurrency} in flight, ${API.price:g} per call; "
        f"budget {args.budget} model calls, T={args.steps}, seed {args.seed}"
    )
    print(
        "| method | reward calls (i) / (ii) | rounds (i) / (ii) | API wait modelled s | reward phase measured s | "
        "run modelled s | run measured s | error | $ modelled from (i) | $ reported | requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as cache, FakeLVLMServer(responder=answer, latency=API.latency) as server:
        os.environ["F2G_LVLM_CACHE_DIR"] = cache
        for method in args.methods.split(","):
            base = {
                "prompt": args.prompt,
                "seed": args.seed,
                "backbone": {"type": "shapes"},
                "sampler": {"num_steps": args.steps, "eta": 1.0},
                "guidance": {"method": method, "budget": {"model_calls": args.budget}},
                "output": {"formats": ["gif"]},
            }
            local, _ = _run({**base, "rewards": [{"type": "shapes-judge"}]}, extra)
            api_reward = {
                "type": "openai",
                "options": {
                    "base_url": server.openai_base_url,
                    "model": "fake-api",
                    "max_concurrency": API.concurrency,
                    "cache": False,
                    "prices": {"fake-api": {"input": per_million, "output": 0.0}},
                },
            }
            before = server.request_count
            remote, wall = _run({**base, "rewards": [api_reward]}, extra)
            requests = server.request_count - before
            seconds, _ = modelled(remote)
            _, dollars = modelled(local)
            error = (seconds - wall) / wall
            worst = max(worst, abs(error))
            mine, theirs = local["totals"], remote["totals"]
            print(
                f"| {method} | {mine['reward_calls']} / {theirs['reward_calls']} | "
                f"{mine['reward_rounds']} / {theirs['reward_rounds']} | {reward_wait(records(remote)):.1f} | "
                f"{theirs['seconds'].get('reward', 0.0):.1f} | {seconds:.1f} | {wall:.1f} | {100 * error:+.1f}% | "
                f"{dollars:.3f} | {theirs['cost_usd']:.3f} | {requests} |"
            )
    print(f"largest |modelled − measured| / measured: {100 * worst:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
