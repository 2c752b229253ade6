"""LoRAs through diffusers' loader and custom (distilled) schedules, at tiny size, through every search method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import f2g_plugin_diffusers.plugin as plugin
import numpy as np
import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.testing import count_transformer_rows, unguided_sample
from f2g_plugin_diffusers.unet import ModelScopeBackbone
from f2g_plugin_diffusers.wan import WanBackbone
from pydantic import ValidationError

from f2g_core.errors import ConfigError
from f2g_core.pipeline import Pipeline
from f2g_core.testing import isolated_plugins

pytest.importorskip("peft")

SMALL = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}
DISTILL_4 = [1000.0, 750.0, 500.0, 250.0]
"""A Wan2.1 StepDistill-style four-step schedule (timesteps, σ = t / 1000)."""


def save_tiny_lora(folder: Path, seed: int = 0) -> Path:
    """A seeded LoRA (rank 4 on the attention projections, non-zero B) of the tiny Wan transformer, written in
    diffusers' LoRA file format with ``WanPipeline.save_lora_weights``."""
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = tiny.wan().transformer
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    transformer.add_adapter(config)
    WanPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(transformer))
    return folder


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_lora(tmp_path_factory.mktemp("lora"))


def _sample(lora: list[dict[str, Any]] | None = None, **options: Any) -> torch.Tensor:
    backbone = WanBackbone(WanBackbone.Options(**SMALL, lora=lora or [], **options), pipeline=tiny.wan())
    noise = torch.randn((1, *backbone.latent_shape()), generator=torch.Generator().manual_seed(0))
    return unguided_sample(backbone, "a red car", noise, 4, negative_prompt="blurry", cfg_scale=5.0)


def test_lora_through_diffusers_loader_changes_the_output_and_its_scale_applies(lora_dir: Path) -> None:
    base = _sample()
    adapted = _sample([{"path": str(lora_dir), "weight_name": "pytorch_lora_weights.safetensors"}])
    off = _sample([{"path": str(lora_dir), "scale": 0.0}])
    assert (adapted - base).abs().max() > 1e-3  # the LoRA reached the denoiser
    torch.testing.assert_close(off, base, rtol=0, atol=0)  # scale 0: bit for bit the base model
    fused = _sample([{"path": str(lora_dir)}], fuse_lora=True)
    torch.testing.assert_close(fused, adapted, rtol=1e-4, atol=1e-4)  # fusing folds the same update into W
    half = _sample([{"path": str(lora_dir), "scale": 0.5}])
    assert 0 < (half - base).abs().max() < (adapted - base).abs().max()  # the scale reaches the adapter


def test_lora_into_missing_second_expert_is_a_config_error(lora_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"transformer_2.*Wan 2.2 A14B"):
        _sample([{"path": str(lora_dir), "into": "transformer_2"}])


def test_custom_timesteps_and_sigmas_are_used_as_given() -> None:
    backbone = WanBackbone(WanBackbone.Options(**SMALL, timesteps=DISTILL_4), pipeline=tiny.wan())
    schedule = backbone.schedule(4)
    assert schedule.timesteps == tuple(DISTILL_4)
    assert schedule.sigmas == (1.0, 0.75, 0.5, 0.25, 0.0) and schedule.alphas == (0.0, 0.25, 0.5, 0.75, 1.0)
    ltx = [1000, 993, 987, 981, 975, 909, 725, 0.03]
    by_sigma = WanBackbone(WanBackbone.Options(**SMALL, sigmas=[t / 1000 for t in ltx]), pipeline=tiny.wan())
    assert by_sigma.schedule(8).timesteps == pytest.approx(ltx)  # no shift applied to a given schedule
    with pytest.raises(ConfigError, match=r"lists 4 steps but the sampler runs 8; set sampler.num_steps: 4"):
        backbone.schedule(8)


def test_custom_ddim_timesteps() -> None:
    options = {**SMALL, "num_frames": 8}
    backbone = ModelScopeBackbone(
        ModelScopeBackbone.Options(**options, timesteps=[999, 759, 499, 259]), pipeline=tiny.modelscope()
    )
    schedule = backbone.schedule(4)
    cumprod = backbone.pipe.scheduler.alphas_cumprod
    assert schedule.timesteps == (999.0, 759.0, 499.0, 259.0)
    assert schedule.alphas[1] == pytest.approx(float(cumprod[759]) ** 0.5)
    with pytest.raises(ValidationError, match="discrete DDIM schedule; give `timesteps`"):
        ModelScopeBackbone.Options(**options, sigmas=[1.0, 0.5])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timesteps", [500, 750], "decrease strictly"),
        ("sigmas", [1.5, 0.5], r"σ in \(0, 1\]"),
        ("timesteps", [-1.0], ">= 0"),
    ],
)
def test_bad_custom_schedule_is_rejected_at_config_time(field: str, value: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WanBackbone.Options(**SMALL, **{field: value})


METHODS: dict[str, dict[str, Any]] = {
    "free2guide": {"num_candidates": 2, "start": 0, "num_guided_steps": 2},
    "best-of-n": {"num_candidates": 2},
    "smc": {"num_particles": 2},
    "beam": {"num_beams": 2, "num_candidates": 2, "start": 0, "num_guided_steps": 2},
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_four_step_distill_with_a_lora_runs_every_method_from_config(lora_dir: Path, method: str) -> None:
    registry = isolated_plugins([("f2g-plugin-diffusers", plugin)]).registry
    options = {**SMALL, "timesteps": DISTILL_4, "guidance_scale": 1.0, "lora": [{"path": str(lora_dir)}]}
    config = {
        "prompt": "a red car driving at night",
        "seed": 1,
        "backbone": {"type": "wan", "options": options},
        "rewards": [{"type": "brightness"}],
        "sampler": {"num_steps": 4, "eta": 1.0},
        "guidance": {"method": method, "options": METHODS[method], "key_frames": [0]},  # the cheapest decode
    }
    with Pipeline.from_config(config, registry=registry) as pipeline:
        pipeline.load()
        rows = count_transformer_rows(pipeline.backbone)
        result = pipeline.generate()
        assert pipeline.backbone.schedule(4).timesteps == tuple(DISTILL_4)
    assert result.video.shape == (9, 32, 32, 3) and np.isfinite(result.video).all()
    records = [*result.trace.steps, *([result.trace.final] if result.trace.final else [])]
    assert any(record.guided for record in records)
    assert sum(rows) == sum(record.model_calls for record in records) > 4  # no CFG: one forward per row


def test_reloading_an_injected_pipeline_does_not_load_its_lora_twice(lora_dir: Path) -> None:
    backbone = WanBackbone(WanBackbone.Options(**SMALL, lora=[{"path": str(lora_dir)}]), pipeline=tiny.wan())
    backbone.load()
    backbone.close()
    backbone.load()  # diffusers refuses an adapter name that is already loaded
    assert backbone.pipe.get_list_adapters() == {"transformer": ["lora0"]}
