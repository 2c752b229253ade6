"""Guide a diffusers backbone with an LVLM, offline: a tiny random-weight Wan model and a local OpenAI server.

The ``wan`` backbone (f2g-plugin-diffusers) with ``model: tiny`` builds a miniature Wan 2.1 pipeline from
constructor arguments (no download); the ``openai`` reward (f2g-plugin-openai, the real ``openai`` client) is
pointed at a local OpenAI-compatible server whose "model" rates the brightness of the key-frame grid it is sent.
Everything a GPT-4o run does — grid rendering, PNG over HTTP, log-probability parsing, concurrency, the trace —
runs for real. For the real thing, drop ``model: tiny`` and ``base_url`` (see diffusers_wan_gpt4o_clip.yaml).

    python examples/diffusers_tiny_lvlm.py [--steps 8] [--n 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest

from f2g_core import Pipeline


def brightness_rater(request: RecordedRequest) -> Answer:
    """Rate 1–9 by the mean brightness of the image sent, as probabilities over two neighbouring digits, so the
    reward's expectation over the answer digits is continuous (as GPT-4o's log-probabilities make it)."""
    image = np.asarray(request.images()[0].convert("L"), dtype=np.float64) / 255.0
    value = 1 + 8 * float(image.mean())
    low = min(int(value), 8)
    return Answer(f"Answer: {low}", probs={str(low): 1 - (value - low), str(low + 1): value - low})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--n", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-server-needs-no-key")
    with tempfile.TemporaryDirectory() as cache, FakeLVLMServer(responder=brightness_rater) as server:
        os.environ["F2G_LVLM_CACHE_DIR"] = cache
        config = {
            "prompt": "a red car driving at night",
            "backbone": {
                "type": "wan",
                "options": {
                    "model": "tiny",
                    "height": 32,
                    "width": 32,
                    "num_frames": 9,
                    "device": "cpu",
                    "max_sequence_length": 16,
                },
            },
            "rewards": [{"type": "openai", "options": {"base_url": server.openai_base_url, "model": "local"}}],
            "sampler": {"num_steps": args.steps, "eta": 1.0},
            "guidance": {"method": "free2guide", "options": {"num_candidates": args.n, "num_guided_steps": 2}},
        }
        with Pipeline.from_config(config) as pipeline:
            result = pipeline.generate(seed=0)
        for step in (s for s in result.trace.steps if s.guided):
            print(f"step {step.step}: ratings {step.scores['openai']} -> kept {step.chosen}")
        usage = result.trace.totals()["usage"]["openai"]
        print(f"video {result.video.shape}; {usage['calls']:.0f} LVLM calls, {server.request_count} requests served")


if __name__ == "__main__":
    main()
