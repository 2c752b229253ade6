"""An ensemble of two rewards with each built-in combiner: which candidate does each keep?

The shapes world's learned judge (1–9 scale) and its exact evaluator (0–1 scale) guide the same seed; the
script prints, per guided step, the candidate each combiner keeps, and the evaluator's verdict on each video.

    python examples/ensemble_combiners.py ["a red circle and a blue square"] [--steps 50]
"""

from __future__ import annotations

import argparse

from f2g_core import Pipeline

COMBINERS = ("weighted-sum", "normalized-sum", "consensus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", default="a red circle and a blue square")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    from f2g_plugin_shapes import evaluate

    for combiner in COMBINERS:
        config = {
            "backbone": {"type": "shapes"},
            "rewards": [
                {"type": "shapes-judge", "name": "judge", "weight": 0.75},
                {"type": "shapes-oracle", "name": "oracle", "weight": 0.25},
            ],
            "combiner": {"type": combiner},
            "sampler": {"num_steps": args.steps},
            "guidance": {"method": "free2guide", "options": {"num_candidates": 5, "num_guided_steps": 6}},
        }
        with Pipeline.from_config(config) as pipeline:
            result = pipeline.generate(args.prompt, seed=1)
        kept = [step.chosen for step in result.trace.steps if step.guided]
        print(f"{combiner:15} kept {kept}  {evaluate(args.prompt, result.video).summary()}")


if __name__ == "__main__":
    main()
