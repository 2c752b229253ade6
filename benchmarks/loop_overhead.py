"""Our guided loop versus a faithful re-creation of the official Free²Guide code's control flow.

Both guide the same job (same backbone, reward, n, guided steps, seeds) on a backbone with a real model and decoder
cost: the analytic Gaussian mixture plus a fixed MLP per denoised sample and a conv stack per decoded frame. The
official flow scores candidates one by one, decodes the full video of each to score four frames, and throws the
chosen candidate's x̂0 away (the next step recomputes it). We batch candidates, decode key frames only and keep
x̂0. Prints model calls, frames decoded and wall time for both, and their ratios.

    python benchmarks/loop_overhead.py [--n 5] [--steps 50] [--guided 6] [--frames 16] [--videos 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from f2g_core.gaussian_mixture import GaussianMixtureBackbone, ModeReward
from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_core.pipeline import Pipeline
from f2g_core.registry import Registry
from f2g_core.sampling import default_key_frames, draw_noise
from f2g_core.testing import isolated_plugins


class CostlyMixture(GaussianMixtureBackbone):
    """The analytic mixture with the cost profile of a real model: an MLP per sample, convs per decoded frame."""

    name = "costly-mixture"

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        generator = torch.Generator().manual_seed(0)
        self.mlp = [torch.randn(768, 768, generator=generator) / 28 for _ in range(8)]
        self.conv = torch.nn.Sequential(*[torch.nn.Conv2d(16, 16, 3, padding=1) for _ in range(4)]).requires_grad_(
            False
        )
        self.calls = 0
        self.frames = 0

    def denoise(self, latents: Any, level: Any, cond: Any) -> Any:
        hidden = torch.ones(latents.shape[0], 768)
        for weight in self.mlp:  # batched like a transformer forward
            hidden = torch.tanh(hidden @ weight)
        self.calls += latents.shape[0]
        return super().denoise(latents, level, cond)

    def decode(self, x0: Any, frame_indices: Sequence[int]) -> np.ndarray:
        count = x0.shape[0] * len(list(frame_indices))
        self.conv(torch.ones(count, 16, 96, 96))
        self.frames += count
        return super().decode(x0, frame_indices)


def official_flow(
    backbone: CostlyMixture, reward: ModeReward, prompt: str, seed: int, steps: int, n: int, guided: range
) -> torch.Tensor:
    """The official script's control flow, rebuilt on the same components and noise."""
    schedule = backbone.schedule(steps)
    key_frames = default_key_frames(backbone.num_frames)
    x = backbone.initial_latents(draw_noise(seed, 0, 2**31 - 1, 1, backbone), schedule)
    for k in range(steps):
        src, dst = schedule.level(k), schedule.level(k + 1)
        x0 = backbone.denoise(x, src, None)  # recomputed every step, even for the chosen candidate
        noises = draw_noise(seed, 0, k, n if k in guided else 1, backbone)
        if k not in guided:
            x = backbone.transition(x, x0, src, dst, noises, 1.0)
            continue
        best, best_score = x, -np.inf
        for i in range(n):  # candidates one by one
            candidate = backbone.transition(x, x0, src, dst, noises[i : i + 1], 1.0)
            video = backbone.decode(backbone.denoise(candidate, dst, None), range(backbone.num_frames))  # full decode
            batch = RewardBatch(
                prompt, video[:, key_frames], tuple(key_frames), backbone.num_frames, StepInfo(k, steps, 0.0)
            )
            score = reward.score(batch)[0]
            if score > best_score:
                best, best_score = candidate, score
        x = best
    backbone.decode(x, range(backbone.num_frames))
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guided", type=int, default=6)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--videos", type=int, default=3)
    args = parser.parse_args()

    from f2g_core.hookspecs import hookimpl

    class Plugin:
        @staticmethod
        @hookimpl
        def register_backbones(register: Any) -> None:
            register(CostlyMixture)

    registry: Registry = isolated_plugins([("bench", Plugin)]).registry
    config = {
        "prompt": "upper-right",
        "backbone": {"type": "costly-mixture", "options": {"num_frames": args.frames}},
        "rewards": [{"type": "mode-distance"}],
        "sampler": {"num_steps": args.steps},
        "guidance": {"method": "free2guide", "options": {"num_candidates": args.n, "num_guided_steps": args.guided}},
    }
    ours = Pipeline.from_config(config, registry=registry)
    ours.load()
    ours.generate(seed=999)  # warm-up
    backbone = ours.backbone
    assert isinstance(backbone, CostlyMixture)
    backbone.calls = backbone.frames = 0
    start = time.perf_counter()
    for seed in range(args.videos):
        ours.generate(seed=seed)
    ours_time = (time.perf_counter() - start) / args.videos

    theirs = CostlyMixture(CostlyMixture.Options(num_frames=args.frames))
    reward = ModeReward()
    official_flow(theirs, reward, "upper-right", 999, args.steps, args.n, range(args.guided))
    theirs.calls = theirs.frames = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for seed in range(args.videos):
            official_flow(theirs, reward, "upper-right", seed, args.steps, args.n, range(args.guided))
    their_time = (time.perf_counter() - start) / args.videos

    rows = [
        ("model calls / video", theirs.calls / args.videos, backbone.calls / args.videos),
        ("frames decoded / video", theirs.frames / args.videos, backbone.frames / args.videos),
        ("wall time / video (s)", their_time, ours_time),
    ]
    steps, guided, n = args.steps, args.guided, args.n
    print(f"T={steps} K={guided} n={n} frames={args.frames} videos={args.videos} threads={torch.get_num_threads()}")
    print(f"expected model calls: official T+K·n = {steps + guided * n}, ours T+K·(n−1) = {steps + guided * (n - 1)}")
    print(f"| {'measure':<24} | {'official flow':>14} | {'f2g':>10} | {'official / f2g':>14} |")
    print(f"|{'-' * 26}|{'-' * 16}|{'-' * 12}|{'-' * 16}|")
    for label, theirs_value, ours_value in rows:
        print(f"| {label:<24} | {theirs_value:>14.3f} | {ours_value:>10.3f} | {theirs_value / ours_value:>14.2f} |")


if __name__ == "__main__":
    main()
