"""End to end: GPT-4o-style guidance of the shapes backbone, with the "LVLM" served locally by the shapes judge.

The ``openai`` reward (the real ``openai`` client) is pointed at a local OpenAI-compatible server whose answers
come from the shapes world's judge looking at the grid image it received (``examples/lvlm_judge_server.py``).
For each prompt the script generates an unguided and a guided video with the same seed, and prints the judge's
expected rating of each finished video, the exact evaluator's verdict, and the reward's calls and tokens.

    python examples/lvlm_shapes_e2e.py ["a red circle moving right" ...] [--steps 50] [--n 5] [--guided 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lvlm_judge_server import judge_server

from f2g_core.images import key_frame_grid
from f2g_core.pipeline import Pipeline
from f2g_core.sampling import default_key_frames
from f2g_core.testing import isolated_plugins

PROMPTS = ["a red circle moving right", "a blue square above a green triangle", "a yellow circle moving down"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompts", nargs="*", default=PROMPTS)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--guided", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-not-needed")

    import f2g_plugin_openai.plugin as openai_plugin
    import f2g_plugin_shapes.plugin as shapes_plugin
    from f2g_plugin_shapes.evaluator import evaluate
    from f2g_plugin_shapes.judge import expected_rating, rate_grid

    registry = isolated_plugins([("f2g-plugin-shapes", shapes_plugin), ("f2g-plugin-openai", openai_plugin)]).registry
    with tempfile.TemporaryDirectory() as cache, judge_server() as server:
        os.environ["F2G_LVLM_CACHE_DIR"] = cache
        reward = {
            "type": "openai",
            "options": {"base_url": server.openai_base_url, "model": "shapes-judge-over-http", "max_concurrency": 8},
        }
        for prompt in args.prompts:
            for method in ("none", "free2guide"):
                config = {
                    "prompt": prompt,
                    "seed": args.seed,
                    "backbone": {"type": "shapes"},
                    "rewards": [reward],
                    "sampler": {"num_steps": args.steps, "eta": 1.0},
                    "guidance": {
                        "method": method,
                        "options": {"num_candidates": args.n, "start": 0, "num_guided_steps": args.guided}
                        if method != "none"
                        else {},
                    },
                }
                with Pipeline.from_config(config, registry=registry) as pipeline:
                    result = pipeline.generate()
                frames = result.video[default_key_frames(result.video.shape[0])]
                rating = float(expected_rating(rate_grid(prompt, key_frame_grid(frames))[None])[0])
                usage = result.trace.totals()["usage"].get("openai", {})
                calls = f"{usage.get('calls', 0):.0f} calls, {usage.get('input_tokens', 0):.0f} input tokens"
                verdict = evaluate(prompt, result.video).summary()
                print(f"{prompt!r:42} {method:10} judge {rating:.2f} ({calls})  {verdict}")


if __name__ == "__main__":
    main()
