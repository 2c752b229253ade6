"""The real loading path: ``from_pretrained`` from a local diffusers-format folder (as users load hub weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.testing import unguided_sample
from f2g_plugin_diffusers.unet import ModelScopeBackbone
from f2g_plugin_diffusers.wan import WanBackbone

SMALL = {"height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    pipe = tiny.wan()
    folder = tmp_path_factory.mktemp("wan")
    pipe.save_pretrained(folder)
    return pipe, folder


def test_wan_loads_from_a_local_folder_and_matches_the_source(wan_folder: tuple[Any, Path]) -> None:
    pipe, folder = wan_folder
    loaded = WanBackbone(WanBackbone.Options(model=str(folder), dtype="float32", **SMALL))
    source = WanBackbone(WanBackbone.Options(model="unused", **SMALL), pipeline=pipe)
    noise = torch.randn((1, *source.latent_shape()), generator=torch.Generator().manual_seed(0))
    ours = unguided_sample(loaded, "a cat", noise, 3, negative_prompt="blurry", cfg_scale=5.0)
    torch.testing.assert_close(
        ours, unguided_sample(source, "a cat", noise, 3, negative_prompt="blurry", cfg_scale=5.0)
    )


def test_vae_in_its_own_dtype_is_loaded_separately(wan_folder: tuple[Any, Path]) -> None:
    _, folder = wan_folder
    backbone = WanBackbone(WanBackbone.Options(model=str(folder), dtype="bfloat16", vae_dtype="float32", **SMALL))
    backbone.load()
    assert backbone.pipe.transformer.dtype == torch.bfloat16
    assert backbone.pipe.vae.dtype == torch.float32


def test_checkpoints_shipped_with_another_sampler_convert_to_ddim(tmp_path: Path) -> None:
    from diffusers import DPMSolverMultistepScheduler

    pipe = tiny.modelscope()
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.save_pretrained(tmp_path)
    backbone = ModelScopeBackbone(ModelScopeBackbone.Options(model=str(tmp_path), **{**SMALL, "num_frames": 8}))
    schedule = backbone.schedule(10)
    assert schedule.num_steps == 10 and schedule.alphas[0] < 0.1 < schedule.alphas[-1]
    assert type(backbone.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"  # the pipeline is untouched
