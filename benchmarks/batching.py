"""Batching in the population loop: best-of-N, prune and draft batched vs one by one, and several videos at once.

* best-of-N, ``prune`` and ``draft``: the chains of a video share every denoiser call (batch N) vs one call per
  chain (``chunk_size: 1``, the old loop's cost profile), for best-of-N with N = 2, 4, 8, ``prune`` with N = 8
  (the default checkpoints) and ``draft`` with 8 drafts of 4 calls and 1 or 2 commits; the results must agree
  (bit for bit where the backbone's kernels are batch-invariant, else up to float rounding; the largest difference
  is printed, and whether every selection — checkpoints, drafts, the final choice — was the same).
* ``generate_many``: 8 prompts sampled in one population (their chains share every denoiser call, at most
  ``chunk_size`` rows per call) vs one video at a time (``videos_per_batch=1``), with Free²Guide n = 5.

On the shapes world (the shipped model) and a tiny random Wan (no download). Prints a markdown table; timings are
the best of ``--repeats`` runs after a warm-up. CPU threads: ``--threads`` (default: torch's).

    python benchmarks/batching.py            # about 5 minutes on 2 CPU cores
    python benchmarks/batching.py --quick    # fewer steps, one repeat
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

PROMPTS = [
    "a red circle",
    "a yellow triangle above a green circle",
    "a blue square moving left",
    "a green triangle and a red square",
    "a cyan circle below a blue triangle",
    "a red square moving right",
    "a yellow circle and a blue circle",
    "a green square to the left of a magenta triangle",
]


def _registry() -> Any:
    import f2g_plugin_diffusers.plugin as diffusers_plugin
    import f2g_plugin_shapes.plugin as shapes_plugin

    from f2g_core.testing import isolated_plugins

    return isolated_plugins([("shapes", shapes_plugin), ("diffusers", diffusers_plugin)]).registry


def _config(backbone: str, steps: int, guidance: dict[str, Any]) -> dict[str, Any]:
    if backbone == "shapes":
        block, rewards = {"type": "shapes"}, [{"type": "shapes-judge"}]
    else:
        options = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16}
        block, rewards = {"type": "wan", "options": {**options, "device": "cpu"}}, [{"type": "mode-distance"}]
    return {"backbone": block, "rewards": rewards, "sampler": {"num_steps": steps, "eta": 1.0}, "guidance": guidance}


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


CHAINS = [
    *(("best-of-{n}", {"method": "best-of-n", "options": {"num_candidates": n}}) for n in (2, 4, 8)),
    ("prune, N=8", {"method": "prune", "options": {"num_candidates": 8}}),
    ("draft, N=8, m=1", {"method": "draft", "options": {"num_candidates": 8, "num_commits": 1}}),
    ("draft, N=8, m=2", {"method": "draft", "options": {"num_candidates": 8, "num_commits": 2}}),
]
"""The runs whose chains of one video share the denoiser calls."""


def _choices(trace: Any) -> list[Any]:
    """Every selection a run made (pruning, drafts, the final choice), to compare batched and one-by-one runs."""
    return [s.selected for s in trace.steps] + [trace.final.chosen if trace.final else None]


def chains(registry: Any, backbone: str, steps: int, repeats: int) -> list[str]:
    from f2g_core.pipeline import Pipeline

    rows = []
    for label, guidance in CHAINS:
        label = label.format(n=guidance["options"].get("num_candidates"))
        batched = Pipeline.from_config(_config(backbone, steps, guidance), registry=registry)
        single = Pipeline.from_config(_config(backbone, steps, {**guidance, "chunk_size": 1}), registry=registry)
        t_batched, a = _best(lambda p=batched: p.generate(PROMPTS[1], seed=0), repeats)
        t_single, b = _best(lambda p=single: p.generate(PROMPTS[1], seed=0), repeats)
        diff = float((a.latents - b.latents).abs().max())
        same = _choices(a.trace) == _choices(b.trace)
        calls = a.trace.totals()["model_calls"]
        rows.append(
            f"| {backbone} | {label} | {calls} | {t_single:.2f} | {t_batched:.2f} | {t_single / t_batched:.2f}× "
            f"| {diff:.1e}, same choices: {same} |"
        )
    return rows


def many(registry: Any, backbone: str, steps: int, repeats: int) -> list[str]:
    from f2g_core.pipeline import Pipeline

    options = {"num_candidates": 5, "num_guided_steps": min(6, steps - 1)}
    rows = []
    alone: Any = None
    for chunk in (None, 10):
        guidance = {"method": "free2guide", "options": options, "chunk_size": chunk}
        pipeline = Pipeline.from_config(_config(backbone, steps, guidance), registry=registry)
        if alone is None:
            t_single, alone = _best(lambda p=pipeline: p.generate_many(PROMPTS, seeds=[0], videos_per_batch=1), repeats)
        t_batched, batched = _best(lambda p=pipeline: p.generate_many(PROMPTS, seeds=[0]), repeats)
        diff = max(float((x.latents - y.latents).abs().max()) for x, y in zip(batched, alone, strict=True))
        calls = sum(r.trace.totals()["model_calls"] for r in batched)
        rows.append(
            f"| {backbone} | generate_many, 8 prompts (Free²Guide n=5), chunk_size {chunk} | {calls} | {t_single:.2f} "
            f"| {t_batched:.2f} | {t_single / t_batched:.2f}× | {diff:.1e} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps, one repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--backbones", default="shapes,wan")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    registry = _registry()
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; seconds per video (best of {repeats})",
        "",
        "| backbone | run | model calls | one by one (s) | batched (s) | speed-up | max latent difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for backbone in args.backbones.split(","):
        steps = {"shapes": 8 if args.quick else 20, "wan": 4 if args.quick else 8}[backbone]
        lines += chains(registry, backbone, steps, repeats)
        lines += many(registry, backbone, steps, repeats)
        print("\n".join(lines), flush=True)
        lines = []
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
