"""The memory estimate (`f2g run --check`) and `guidance.chunk_size: auto` sized by it with a fake memory budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import f2g_plugin_diffusers.plugin as plugin
import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.testing import count_transformer_rows
from f2g_plugin_diffusers.wan import WanBackbone

import f2g_core.sampling as sampling
from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins

SMALL = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}

WAN_14B = {
    "_class_name": "WanTransformer3DModel",
    "patch_size": [1, 2, 2],
    "num_attention_heads": 40,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 13824,
    "num_layers": 40,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
"""The published architecture of Wan2.1-T2V-14B (5120 wide, 40 blocks)."""
UMT5_XXL = {
    "architectures": ["UMT5EncoderModel"],
    "model_type": "umt5",
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "vocab_size": 256384,
    "feed_forward_proj": "gated-gelu",
}


def wan14b_configs(folder: Path) -> Path:
    """A checkpoint folder with only the config files of Wan2.1-T2V-14B (no weights): what --check reads."""
    index = {
        "_class_name": "WanPipeline",
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "transformer_2": [None, None],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    }
    parts = {
        "": ("model_index.json", index),
        "transformer": ("config.json", WAN_14B),
        "text_encoder": ("config.json", UMT5_XXL),
        "vae": ("config.json", {"_class_name": "AutoencoderKLWan"}),
    }
    for sub, (name, data) in parts.items():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / name).write_text(json.dumps(data))
    return folder


def test_estimate_of_a_built_pipeline_counts_its_weights_by_dtype_and_lever() -> None:
    pipe = tiny.wan()
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in pipe.components.items() if hasattr(m, "parameters")}
    plain = WanBackbone(WanBackbone.Options(**SMALL), pipeline=pipe).memory_estimate()
    assert plain is not None and plain.weights == 4 * sum(params.values())  # float32 on the CPU
    offloaded = WanBackbone(WanBackbone.Options(**SMALL, text_encoder_offload=True), pipeline=pipe).memory_estimate()
    assert offloaded is not None and plain.weights - offloaded.weights == 4 * params["text_encoder"]
    no_cfg = WanBackbone(WanBackbone.Options(**SMALL, guidance_scale=1.0), pipeline=pipe).memory_estimate()
    assert no_cfg is not None and 2 * no_cfg.per_row == plain.per_row  # CFG doubles the rows of a candidate
    assert plain.peak(4) == plain.weights + max(4 * plain.per_row, plain.decode)


def test_check_prints_the_estimate_for_the_wan_14b_config_without_weights(tmp_path: Path) -> None:
    pytest.importorskip("torchao")
    folder = wan14b_configs(tmp_path / "wan14b")
    options = {
        "model": str(folder),
        "dtype": "bfloat16",
        "device": "cpu",
        "height": 480,
        "width": 832,
        "num_frames": 81,
    }
    bf16 = WanBackbone(WanBackbone.Options(**options)).memory_estimate()
    int8 = WanBackbone(
        WanBackbone.Options(**options, quantization={"backend": "torchao"}, text_encoder_offload=True)
    ).memory_estimate()
    assert bf16 is not None and int8 is not None
    assert 36 < bf16.weights / 2**30 < 39  # 14.3B transformer + 5.7B UMT5 + 0.13B VAE in bfloat16: 37.7 GiB
    assert 12 < int8.weights / 2**30 < 15  # the transformer in int8, the text encoder parked on the CPU
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    config = {"backbone": {"type": "wan", "options": options}, "rewards": [{"type": "brightness"}]}
    config["guidance"] = {"method": "best-of-n", "options": {"num_candidates": 4}, "chunk_size": 2}
    report = Pipeline.from_config(config, registry=registry).memory_report()
    assert report is not None and report.startswith("estimated peak accelerator memory: ")
    assert "at 2 candidate(s) per denoiser call" in report


def _auto_config(candidates: int) -> dict[str, Any]:
    return {
        "prompt": "a red car",
        "seed": 0,
        "backbone": {"type": "wan", "options": SMALL},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 2},
        "guidance": {"method": "best-of-n", "options": {"num_candidates": candidates}, "chunk_size": "auto"},
    }


def test_auto_chunk_fits_a_fake_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    with Pipeline.from_config(_auto_config(7), registry=registry) as pipeline:
        estimate = pipeline.backbone.memory_estimate()
        assert estimate is not None
        budget = int(3.5 * estimate.per_row / sampling.AUTO_HEADROOM)  # room for 3 candidates, not 4
        monkeypatch.setattr(sampling, "free_accelerator_memory", lambda device: budget)
        pipeline.load()
        rows = count_transformer_rows(pipeline.backbone)
        result = pipeline.generate()
    assert any("chunk_size auto: 3 candidates per call" in event for event in result.trace.events)
    assert max(rows) == 2 * 3 and sum(rows) == 2 * 7 * 2  # CFG rows of 3 candidates at most; 7 × 2 steps


def test_auto_chunk_on_the_cpu_keeps_every_candidate_in_one_call() -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    with Pipeline.from_config(_auto_config(3), registry=registry) as pipeline:
        result = pipeline.generate()
    assert any("no accelerator memory budget here" in event for event in result.trace.events)
    assert torch.device("cpu") == pipeline.backbone.device


def test_f2g_generate_check_prints_the_wan_14b_estimate(tmp_path: Path) -> None:
    """The issue's done-when, through the real command: `f2g generate --check` on the docs' Wan-14B config prints
    the estimate and loads no weights (the folder holds only config files)."""
    import subprocess
    import sys

    import yaml

    pytest.importorskip("torchao")
    folder = wan14b_configs(tmp_path / "wan14b")
    options = {"model": str(folder), "dtype": "bfloat16", "height": 480, "width": 832, "num_frames": 81}
    config = tmp_path / "wan14b.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "backbone": {"type": "wan", "options": options},
                "rewards": [{"type": "clip"}],
                "guidance": {"method": "free2guide", "options": {"num_candidates": 5}, "chunk_size": 5},
            }
        )
    )
    command = [sys.executable, "-m", "f2g_core.cli", "generate", "a red car", "-c", str(config), "--check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "settings: ok" in done.stdout and "estimated peak accelerator memory: " in done.stdout
    assert "at 5 candidate(s) per denoiser call" in done.stdout
