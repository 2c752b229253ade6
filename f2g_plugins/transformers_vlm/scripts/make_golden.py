"""Make the rubric goldens by running the references' own prompt-building and scoring code.

Neither reference has a code path that runs without its GPU checkpoint (both load a 7B+ model before anything
else), so this script runs their *functions* on synthetic inputs, taken from the reference files by their names
with ``ast`` and executed unchanged (no import of the reference modules: they import cv2, qwen_vl_utils and load
models at import):

* VideoScore2 (github.com/TIGER-AI-Lab/VideoScore2, ``vs2_inference.py`` at commit e6abe26 and
  ``eval/eval_methods/vs2_float.py``): the ``VS2_QUERY_TEMPLATE`` of ``main`` substituted for a few prompts; the
  reply regex of ``main``; ``find_score_token_index_by_prompt`` and ``ll_based_soft_score_normed`` on replies
  with seeded random logits; and ``ll_based_soft_score_weighted`` (the expectation over the digits' softmax)
  from ``vs2_float.py``'s ``evaluate_video``, run with the same ``scores`` and tokenizer in its closure.
* UnifiedReward-2.0 (github.com/CodeGoat24/UnifiedReward at commit ff6f520,
  ``inference_qwen/UnifiedReward-2.0-inference/point_score_APS_video_generation.py``): its ``problem`` text for a
  few prompts, its frame choice (``selected_frames`` of ``read_video_frames``) for several lengths, and its
  published example reply (the script's final string). It has no parser: the parity test checks f2g's against the
  numbers of that published reply.

The tokenizer is a byte-level one built here with the ``tokenizers`` library (every byte a token, as Qwen's BPE
splits digits singly), saved next to the goldens so the test reads replies exactly as these functions did.

Usage (outside the repository; any Python with torch, numpy and tokenizers — the functions use nothing else, so
the references' pinned transformers versions play no part)::

    python make_golden.py --videoscore2 /work/refenv-vlmtpl/VideoScore2 \
        --unifiedreward /work/refenv-vlmtpl/UnifiedReward --out f2g_plugins/transformers_vlm/tests/golden
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

PROMPTS = ["a red circle moving left", "A $5 bill {folded} in half, 100% \\ real", "Elderly man herding sheep."]
REPLIES = [
    "visual quality: 3;\ntext-to-video alignment: 4,\nphysical/common-sense consistency: 2",
    "<think>The motion is smooth.</think>\nvisual quality: 5;\ntext-to-video alignment: 1,\n"
    "physical/common-sense consistency: 4",
]
LABELS = ["visual quality:", "text-to-video alignment:", "physical/common-sense consistency:"]
TOTALS = [16, 17, 33, 49, 81, 10]


def function_source(path: Path, name: str) -> ast.FunctionDef:
    """The (possibly nested) function ``name`` of the file at ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise SystemExit(f"{path}: no function {name}")


def assigned(scope: ast.AST, target: str) -> ast.expr:
    """The value assigned to ``target`` directly in ``scope``'s body."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == target for t in node.targets):
            return node.value
    raise SystemExit(f"no assignment to {target}")


def run_function(node: ast.FunctionDef, namespace: dict[str, Any]) -> Any:
    module = ast.Module(body=[node], type_ignores=[])
    exec(compile(ast.fix_missing_locations(module), "<reference>", "exec"), namespace)
    return namespace[node.name]


def byte_tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    folder.mkdir(parents=True, exist_ok=True)
    core.save(str(folder / "byte_tokenizer.json"))
    return PreTrainedTokenizerFast(tokenizer_object=core)


def videoscore2(root: Path, tokenizer: Any) -> dict[str, Any]:
    inference = root / "vs2_inference.py"
    main = function_source(inference, "main")
    template = eval(compile(ast.Expression(assigned(main, "VS2_QUERY_TEMPLATE")), "<ref>", "eval"), vars(string))
    pattern = ast.literal_eval(assigned(main, "pattern"))
    namespace: dict[str, Any] = {"torch": torch, "np": np, "re": re}
    find = run_function(function_source(inference, "find_score_token_index_by_prompt"), namespace)
    normed = run_function(function_source(inference, "ll_based_soft_score_normed"), namespace)
    cases = []
    for seed, reply in enumerate(REPLIES):
        ids = tokenizer.encode(reply, add_special_tokens=False)
        generator = torch.Generator().manual_seed(seed)
        logits = torch.randn(len(ids), tokenizer.vocab_size, generator=generator)
        scores = [row[None] for row in logits]
        closure = {"torch": torch, "np": np, "scores": scores, "self": SimpleNamespace(tokenizer=tokenizer)}
        weighted = run_function(
            function_source(root / "eval" / "eval_methods" / "vs2_float.py", "ll_based_soft_score_weighted"), closure
        )
        match = re.search(pattern, reply, re.DOTALL | re.IGNORECASE)
        hard = [int(match.group(k)) for k in (1, 2, 3)] if match else [None] * 3
        indices = [find(label, tokenizer, ids) for label in LABELS]
        cases.append(
            {
                "reply": reply,
                "seed": seed,
                "token_ids": ids,
                "hard": hard,
                "indices": indices,
                "normed": [normed(h, i, scores, tokenizer) for h, i in zip(hard, indices, strict=True)],
                "weighted": [weighted(h, i) for h, i in zip(hard, indices, strict=True)],
            }
        )
    return {
        "prompts": {p: template.substitute(t2v_prompt=p) for p in PROMPTS},
        "pattern": pattern,
        "cases": cases,
    }


def unifiedreward(root: Path) -> dict[str, Any]:
    script = root / "point_score_APS_video_generation.py"
    tree = ast.parse(script.read_text())
    problem = assigned(tree, "problem")
    prompts = {p: eval(compile(ast.Expression(problem), "<ref>", "eval"), {"prompt": p}) for p in PROMPTS}
    selected = assigned(function_source(script, "read_video_frames"), "selected_frames")
    frames = {
        str(total): eval(compile(ast.Expression(selected), "<ref>", "eval"), {"total_frames": total, "num_frames": 16})
        for total in TOTALS
    }
    example = [n.value.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)][-1]
    return {"prompts": prompts, "frames": frames, "example_reply": example}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videoscore2", type=Path, required=True, help="folder with the VideoScore2 files")
    parser.add_argument("--unifiedreward", type=Path, required=True, help="folder with the UnifiedReward script")
    parser.add_argument("--out", type=Path, required=True, help="where rubrics.json and the tokenizer go")
    args = parser.parse_args()
    tokenizer = byte_tokenizer(args.out)
    golden = {
        "videoscore2": videoscore2(args.videoscore2, tokenizer),
        "unifiedreward": unifiedreward(args.unifiedreward),
    }
    (args.out / "rubrics.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
