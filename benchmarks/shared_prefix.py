"""What encoding the prompt prefix once saves the in-process VLM rewards that ask several things about one video.

The checklist (VisionReward-Video's 29 questions) and the rubric judges (VideoScore2, UnifiedReward-2.0: 3 scores
each) on their tiny random miniatures (``model: tiny``), on the CPU, with ``share_prefix`` on (the frames and the
chat before the question encoded once per chunk of candidates, each question a continuation of its key/value cache)
and off (one whole forward pass per question): seconds per scored candidate (best of ``--repeats``), forward
passes, and the largest difference between the two scores (float rounding).

    python benchmarks/shared_prefix.py [--batches 1,5] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from f2g_core.interfaces import Reward, RewardBatch, StepInfo

FRAMES = (0, 5, 10, 15)
NUM_FRAMES, SIZE, FPS = 16, 64, 8.0
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "checklist (29 questions)": ("checklist", {}),
    "videoscore2 (Qwen2.5-VL, video)": ("videoscore2", {"tiny_family": "qwen2.5-vl"}),
    "unifiedreward (Qwen3-VL, 16 images)": ("unifiedreward", {"tiny_family": "qwen3-vl"}),
}


def make_batch(count: int) -> RewardBatch:
    frames = np.random.default_rng(count).random((count, len(FRAMES), SIZE, SIZE, 3), dtype=np.float32)
    return RewardBatch("a red circle moving left", frames, FRAMES, NUM_FRAMES, StepInfo(0, 20, 900.0), fps=FPS)


def build(reward_id: str, options: dict[str, Any], share: bool) -> Reward:
    from f2g_core.plugins import default_plugins

    options = {"model": "tiny", "device": "cpu", "share_prefix": share, **options}
    reward = default_plugins().registry.build("reward", reward_id, options, "bench")
    assert isinstance(reward, Reward)
    reward.load()
    return reward


def measure(reward_id: str, options: dict[str, Any], batches: list[int], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in batches:
        batch = make_batch(size)
        row: dict[str, Any] = {}
        scores = {}
        for share in (True, False):
            reward = build(reward_id, options, share)
            reward.score(make_batch(1))  # warm-up
            best = float("inf")
            for _ in range(repeats):
                before = reward.usage()["calls"]
                start = time.perf_counter()
                scores[share] = np.asarray(reward.score(batch))
                best = min(best, time.perf_counter() - start)
            key = "shared" if share else "whole"
            row[f"{key}_s_per_candidate"] = best / size
            row[f"{key}_passes"] = reward.usage()["calls"] - before
            reward.close()
        row["speedup"] = row["whole_s_per_candidate"] / row["shared_s_per_candidate"]
        row["max_abs_score_difference"] = float(np.abs(scores[True] - scores[False]).max())
        out[str(size)] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,5", help="Candidates per scored batch (comma-separated).")
    parser.add_argument("--repeats", type=int, default=3, help="Timings per configuration (the best is kept).")
    parser.add_argument("--json", help="Also write every figure to this file.")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    figures = {name: measure(reward_id, options, batches, args.repeats) for name, (reward_id, options) in CASES.items()}
    print(f"CPU: {os.cpu_count()} cores; frames 4×{SIZE}×{SIZE}; seconds per candidate, best of {args.repeats}")
    print(f"{'reward':<38}{'batch':>6}{'whole s':>10}{'shared s':>10}{'speedup':>9}{'passes':>10}{'max |Δ|':>10}")
    for name, rows in figures.items():
        for size, row in rows.items():
            passes = f"{row['whole_passes']}→{row['shared_passes']}"
            print(
                f"{name:<38}{size:>6}{row['whole_s_per_candidate']:>10.3f}{row['shared_s_per_candidate']:>10.3f}"
                f"{row['speedup']:>8.1f}×{passes:>10}{row['max_abs_score_difference']:>10.1e}"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"figures": figures, "cpus": os.cpu_count()}, handle, indent=2)


if __name__ == "__main__":
    main()
