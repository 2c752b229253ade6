"""The Python API: build a pipeline from a config dict, generate, read per-step scores from the trace, save.

Runs on the embedded shapes world (f2g-plugin-shapes), on a CPU, with nothing downloaded:

    python examples/python_api.py ["a blue square moving up"] [--steps 50] [--out runs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from f2g_core import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", default="a blue square moving up")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs"))
    args = parser.parse_args()

    config = {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-judge"}],
        "sampler": {"num_steps": args.steps},
        "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "start": 0, "num_guided_steps": 6}},
        "output": {"dir": str(args.out), "formats": ["gif"]},
    }
    with Pipeline.from_config(config) as pipeline:
        result = pipeline.generate(args.prompt, seed=0)
        for step in result.trace.steps:
            if step.guided:  # every candidate's score, per reward, and the one kept
                scores = ", ".join(f"{s:.2f}" for s in step.scores["shapes-judge"] if s is not None)
                print(f"step {step.step}: shapes-judge [{scores}] -> kept candidate {step.chosen}")
        totals = result.trace.totals()
        print(f"{totals['model_calls']} model calls, {totals['reward_calls']} reward calls")
        print(f"video {result.video.shape}, wrote {pipeline.save(result)}")


if __name__ == "__main__":
    main()
