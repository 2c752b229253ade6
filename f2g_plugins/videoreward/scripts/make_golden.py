"""Produce the VideoReward golden values by running the *reference* VideoAlign code on a tiny random model.

Run it with the reference's own pins, in a throwaway environment outside this repository (recipe in
``f2g_plugins/videoreward/README.md``), pointing it at a checkout of https://github.com/KlingAIResearch/VideoAlign
(formerly KwaiVGI/VideoAlign)::

    /work/refenv-videoreward/venv/bin/python f2g_plugins/videoreward/scripts/make_golden.py --reference VideoAlign

What runs is the reference's code, not ours: its ``create_model_and_processor`` (special tokens added to the
tokenizer, embeddings resized, the ``Qwen2VLRewardModelBT`` head, LoRA wrapped with peft), its
``load_model_from_checkpoint`` (both published layouts), and its ``VideoVLMRewardInference.reward`` (video files
read with its ``vision_process``, its prompt template, the processor call, its forward, its normalisation). The
only change is the attention kernel: the reference asks for flash-attention 2 (CUDA only), so ``sdpa`` is used.

The script writes into ``tests/golden/``:

* ``base/``: a tiny Qwen2-VL (``tiny.py``'s sizes, seeded weights) with its processor, saved like
  ``Qwen/Qwen2-VL-2B-Instruct``;
* ``full/``: ``model_config.json`` and ``checkpoint-1/model.pth``, the whole peft-wrapped state dict with unmerged
  LoRA factors (the layout of the published ``KlingTeam/VideoReward`` checkpoint);
* ``lora/``: the same model as ``checkpoint-1/adapter_model.safetensors`` + ``non_lora_state_dict.pth`` on top of
  ``base/`` (the reference's other layout);
* ``golden_videoreward.json``: per video and prompt, the reference's VQ, MQ, TA and Overall, raw and normalised,
  scored one at a time and all in one padded batch, for each layout; with the token ids, grids and pixel
  statistics its preprocessing produced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent.parent
# f2g_torch_utils' compat, checkpoints, golden and synthetic_videos modules need only torch, numpy and av (and
# f2g_core.errors); tiny.py and testing.py need only the standard library, numpy and tokenizers (and
# synthetic_videos): they are run by path so f2g's own dependencies stay out.
sys.path[:0] = [str(REPO), str(REPO / "f2g_plugins" / "torch_utils")]
MODULE = PACKAGE / "f2g_plugin_videoreward"
SEED = 0
NORMALISATION = {  # the published checkpoint's inference_config (KlingTeam/VideoReward model_config.json)
    "VQ_mean": 3.6757,
    "VQ_std": 2.2476,
    "MQ_mean": 1.1646,
    "MQ_std": 1.3811,
    "TA_mean": 2.8105,
    "TA_std": 2.5121,
}


def build_base(folder: Path, tiny: dict[str, Any]) -> None:
    """The tiny Qwen2-VL-Instruct stand-in, saved with its processor (transformers 4.45 classes)."""
    import torch
    from f2g_torch_utils.checkpoints import seeded_state
    from transformers import (
        Qwen2TokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
    )

    template = tiny["template_path"]().read_text()
    core = tiny["build_tokenizer"](template)
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = tiny["CHAT_TEMPLATE"]
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, chat_template=tiny["CHAT_TEMPLATE"]
    )
    ids = {token: core.token_to_id(token) for token in tiny["SPECIAL_TOKENS"]}
    config = Qwen2VLConfig(**tiny["config_dict"](core.get_vocab_size(), ids))
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32)
    state = seeded_state(model.state_dict(), seed=SEED)
    del state["lm_head.weight"]  # tied to the token embeddings
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["lm_head.weight"] and not unexpected, (missing, unexpected)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    # Qwen2VLProcessor insists on a Qwen2 tokenizer class; the file itself is a plain word-level tokenizer.json,
    # which current transformers loads as is only under the generic class name.
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n")


def model_config(base: str, tiny: dict[str, Any]) -> dict[str, Any]:
    """``model_config.json`` as the reference's training writes it, with the published checkpoint's settings.

    ``base`` is relative to the golden folder, the working directory while the reference runs, so the committed
    files name no machine's paths."""
    return {
        "data_config": {
            "meta_data": "",
            "data_dir": "",
            "meta_data_test": None,
            "max_frame_pixels": 200704,
            "num_frames": None,
            "fps": 2.0,
            "p_shuffle_frames": 0.0,
            "p_color_jitter": 0.0,
            "eval_dim": ["VQ", "MQ", "TA"],
            "prompt_template_type": "detailed_special",
            "add_noise": False,
            "sample_type": "uniform",
            "use_tied_data": True,
        },
        "model_config": {
            "model_name_or_path": base,
            "model_revision": "main",
            "output_dim": 1,
            "use_special_tokens": True,
            "freeze_vision_tower": True,
            "freeze_llm": False,
            "tune_merger": False,
            "torch_dtype": "float32",
            "trust_remote_code": False,
            "attn_implementation": None,
            "load_in_8bit": False,
            "load_in_4bit": False,
            "bnb_4bit_quant_type": "nf4",
            "use_bnb_nested_quant": False,
            "reward_token": "special",
            "loss_type": "btt",
        },
        "peft_lora_config": {
            "lora_enable": True,
            "vision_lora": False,
            "lora_r": tiny["LORA"]["r"],
            "lora_alpha": tiny["LORA"]["alpha"],
            "lora_dropout": 0.05,
            "lora_target_modules": None,
            "lora_namespan_exclude": ["lm_head", "rm_head", "embed_tokens", "visual"],
            "lora_modules_to_save": None,
            "lora_task_type": "CAUSAL_LM",
            "use_rslora": False,
            "num_lora_modules": -1,
        },
        "inference_config": dict(NORMALISATION),
    }


def reference_modules(reference: Path) -> dict[str, Any]:
    """The reference's modules, imported from its checkout, with flash-attention 2 swapped for sdpa (CPU)."""
    sys.path.insert(0, str(reference))
    import inference
    import train_reward
    import utils

    original = train_reward.create_model_and_processor

    def on_cpu(model_config: Any, peft_lora_config: Any, training_args: Any, cache_dir: Any = None) -> Any:
        training_args.disable_flash_attn2 = True  # the reference picks flash_attention_2 unless this is set
        return original(model_config, peft_lora_config, training_args, cache_dir=cache_dir)

    inference.create_model_and_processor = on_cpu
    return {"inference": inference, "train_reward": train_reward, "utils": utils, "on_cpu": on_cpu}


def write_checkpoints(out: Path, config: dict[str, Any], ref: dict[str, Any]) -> None:
    """Both published layouts of one model: seeded LoRA factors, reward head and token embeddings on the base."""
    import torch
    from f2g_torch_utils.checkpoints import seeded_state
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    utils = ref["utils"]
    model, _, _ = ref["on_cpu"](
        utils.ModelConfig(**config["model_config"]),
        utils.PEFTLoraConfig(**config["peft_lora_config"]),
        utils.TrainingConfig(output_dir=str(out / "unused"), bf16=False, fp16=False, load_from_pretrained=None),
    )
    shutil.rmtree(out / "unused", ignore_errors=True)
    state = model.state_dict()
    trained = {k: v for k, v in state.items() if "lora_" in k or "rm_head" in k or "embed_tokens" in k}
    model.load_state_dict(seeded_state(trained, seed=SEED + 1), strict=False)
    state = model.state_dict()
    for layout in ("full", "lora"):
        (out / layout / "checkpoint-1").mkdir(parents=True, exist_ok=True)
        (out / layout / "model_config.json").write_text(json.dumps(config, indent=4) + "\n")
    torch.save(state, out / "full" / "checkpoint-1" / "model.pth")
    adapter = {k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(adapter, str(out / "lora" / "checkpoint-1" / "adapter_model.safetensors"))
    non_lora = {k: v for k, v in state.items() if "lora_" not in k and ("rm_head" in k or "embed_tokens" in k)}
    torch.save(non_lora, out / "lora" / "checkpoint-1" / "non_lora_state_dict.pth")


def score(inferencer: Any, paths: list[str], prompts: list[str]) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        raw = inferencer.reward(paths, prompts, use_norm=False)
        normalised = inferencer.reward(paths, prompts, use_norm=True)
    return {"raw": raw, "normalised": normalised}


def preprocessing(inferencer: Any, path: str, prompt: str) -> dict[str, Any]:
    """What the reference's preprocessing fed its model for one video: ids, grid and pixel statistics."""
    batch = inferencer.prepare_batch([path], [prompt])
    ids = batch["input_ids"][0].tolist()
    exact = batch["pixel_values_videos"].float().contiguous()
    pixels = exact.double()
    return {
        "input_ids_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
        "pixel_values_sha256": hashlib.sha256(exact.numpy().tobytes()).hexdigest(),
        "num_tokens": len(ids),
        "video_grid_thw": batch["video_grid_thw"][0].tolist(),
        "pixel_values_shape": list(pixels.shape),
        "pixel_values_sum": float(pixels.sum()),
        "pixel_values_abs_sum": float(pixels.abs().sum()),
        "pixel_values_head": pixels.flatten()[:16].tolist(),
    }


def main() -> None:
    from f2g_torch_utils.golden import start_golden_run, write_lossless_video

    run = start_golden_run(__doc__.split("\n\n")[0], "KlingAIResearch/VideoAlign", PACKAGE, MODULE, SEED)
    import importlib.metadata as md

    import numpy as np
    import torch

    tiny, testing, out = run.tiny, run.testing, run.out
    build_base(out / "base", tiny)
    ref = reference_modules(run.reference.resolve())
    os.chdir(out)
    config = model_config("base", tiny)
    write_checkpoints(out, config, ref)

    videos = out / "videos"  # temporary: the test makes the same frames in memory
    videos.mkdir()
    paths = []
    for spec in testing["VIDEOS"]:
        frames = testing["make_frames"](spec)
        path = videos / f"{spec.name}.avi"
        write_lossless_video(path, frames, spec.fps)
        import decord

        reader = decord.VideoReader(str(path))
        decoded = reader.get_batch(list(range(len(reader)))).asnumpy()
        assert np.array_equal(decoded, frames) and reader.get_avg_fps() == spec.fps, f"{spec.name} is not lossless"
        paths.append(str(path))
    prompts = [testing["PROMPTS"][i % len(testing["PROMPTS"])] for i in range(len(paths))]

    results: dict[str, Any] = {}
    for layout in ("full", "lora"):
        inferencer = ref["inference"].VideoVLMRewardInference(str(out / layout), device="cpu", dtype=torch.float32)
        results[layout] = {
            "single": [score(inferencer, [p], [q]) for p, q in zip(paths, prompts, strict=True)],
            "batch": score(inferencer, paths, prompts),
        }
        if layout == "full":
            results["preprocessing"] = [preprocessing(inferencer, p, q) for p, q in zip(paths, prompts, strict=True)]
            results["special_token_ids"] = inferencer.processor.tokenizer.convert_tokens_to_ids(
                list(tiny["REWARD_TOKENS"])
            )
    shutil.rmtree(videos)
    golden = {
        "about": "VideoAlign reference (tiny seeded Qwen2-VL reward model), made by scripts/make_golden.py",
        "reference": str(run.reference),
        "versions": {name: md.version(name) for name in ("torch", "torchvision", "transformers", "peft", "decord")},
        "videos": [spec.name for spec in testing["VIDEOS"]],
        "prompts": prompts,
        "normalisation": NORMALISATION,
        **results,
    }
    (out / "golden_videoreward.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(results["full"]["batch"]["raw"], indent=1))


if __name__ == "__main__":
    main()
