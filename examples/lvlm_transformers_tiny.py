"""Score candidates with an open VLM in-process (the ``transformers-vlm`` reward), no server, no network.

Builds a tiny random-weight LLaVA offline (tokenizer made in code), saves it like a hub checkpoint, loads it with
the reward exactly as a real model (``model: Qwen/Qwen2.5-VL-3B-Instruct`` on a GPU) would be, and scores a batch
of random candidates from the answer-token logits — one batched forward pass, no generation. Random weights
give meaningless but deterministic ratings; swap in a real checkpoint folder or hub id to judge for real.

    python examples/lvlm_transformers_tiny.py [--model FOLDER_OR_HUB_ID] [--device auto] [--dtype auto]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from f2g_lvlm.testing import make_lvlm_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint folder or hub id (default: a tiny random LLaVA)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--scale", default="1-9", choices=["1-9", "yes-no"])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from f2g_plugin_transformers_vlm import TransformersVLMReward
    from f2g_plugin_transformers_vlm.tiny import build_tiny_llava

    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(build_tiny_llava(folder))
        options = TransformersVLMReward.Options(model=model, device=args.device, dtype=args.dtype, scale=args.scale)
        reward = TransformersVLMReward(options)
        reward.load()
        batch = make_lvlm_batch(n=4, prompt="a red circle moving right", size=32)
        scores = reward.score(batch)
        for index, (score, detail) in enumerate(zip(scores, reward.last_details, strict=True)):
            top = sorted(detail["probs"].items(), key=lambda kv: -kv[1])[:3]
            print(f"candidate {index}: score {score:.3f}  top answers {[(k, round(p, 3)) for k, p in top]}")
        print(reward.trace_info(), dict(reward.usage()))


if __name__ == "__main__":
    main()
