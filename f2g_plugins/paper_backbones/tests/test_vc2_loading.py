"""Loading VideoCrafter2's ``model.ckpt``: the Lightning layout, the split into three networks, strict key checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from f2g_plugin_paper_backbones import tiny
from f2g_plugin_paper_backbones.ldm_vae import LDMNamed
from f2g_plugin_paper_backbones.videocrafter2 import (
    SCHEDULE_BUFFERS,
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    VideoCrafter2Backbone,
    load_vc2_state,
)
from f2g_torch_utils.checkpoints import read_state_dict, save_state_dict

from f2g_core.errors import ComponentError


def _checkpoint_state(nets: Any) -> dict[str, torch.Tensor]:
    """A tiny model.ckpt's state dict, as the reference LatentDiffusion saves it."""
    state = {UNET_PREFIX + k: v for k, v in nets.unet.state_dict().items()}
    state.update({VAE_PREFIX + k: v for k, v in LDMNamed(nets.vae, 2).state_dict().items()})
    state.update({TEXT_PREFIX + k: v for k, v in nets.text.state_dict().items()})
    state.update({name: torch.zeros(1000) for name in SCHEDULE_BUFFERS})
    return state


def _fresh() -> Any:
    nets = tiny.videocrafter2()
    for module in (nets.unet, nets.vae, nets.text):
        for p in module.parameters():
            torch.nn.init.zeros_(p)
    return nets


def test_lightning_checkpoint_loads_every_network(tmp_path: Path) -> None:
    source = tiny.videocrafter2()
    path = save_state_dict(_checkpoint_state(source), tmp_path / "model.ckpt", nest_under="state_dict")
    state = read_state_dict(path, what="test")
    target = _fresh()
    load_vc2_state(target.unet, target.vae, 2, target.text, state, what="test", source=str(path))
    for ours, theirs in ((target.unet, source.unet), (target.vae, source.vae), (target.text, source.text)):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
            assert torch.equal(a, b), name


def test_missing_and_unexpected_keys_are_named() -> None:
    state = _checkpoint_state(tiny.videocrafter2())
    del state[UNET_PREFIX + "fps_embedding.0.weight"]  # what a checkpoint without fs conditioning lacks
    state[VAE_PREFIX + "decoder.extra.weight"] = torch.zeros(1)
    target = _fresh()
    with pytest.raises(ComponentError, match=r"fps_embedding\.0\.weight"):
        load_vc2_state(target.unet, target.vae, 2, target.text, state, what="vc2", source="x.ckpt")
    state[UNET_PREFIX + "fps_embedding.0.weight"] = torch.zeros(128, 32)
    with pytest.raises(ComponentError, match=r"unexpected keys \(e\.g\. decoder\.extra\.weight\)"):
        load_vc2_state(target.unet, target.vae, 2, target.text, state, what="vc2", source="x.ckpt")


def test_foreign_top_level_keys_are_rejected() -> None:
    state = _checkpoint_state(tiny.videocrafter2())
    state["model_ema.decay"] = torch.zeros(())
    target = _fresh()
    with pytest.raises(ComponentError, match=r"not a VideoCrafter2 model\.ckpt.*model_ema\.decay"):
        load_vc2_state(target.unet, target.vae, 2, target.text, state, what="vc2", source="x.ckpt")


def test_missing_file_and_offline_hub_give_clear_errors(tmp_path: Path) -> None:
    missing = VideoCrafter2Backbone(VideoCrafter2Backbone.Options(model=str(tmp_path / "model.ckpt"), device="cpu"))
    with pytest.raises(ComponentError, match="does not exist"):
        missing.load()
    hub = VideoCrafter2Backbone(VideoCrafter2Backbone.Options(model="VideoCrafter/VideoCrafter2", device="cpu"))
    with pytest.raises(ComponentError, match=r"cannot download model\.ckpt from 'VideoCrafter/VideoCrafter2'"):
        hub.load()


def test_options_defaults_are_the_papers_and_sizes_are_checked() -> None:
    options = VideoCrafter2Backbone.Options()
    assert (options.height, options.width, options.num_frames, options.guidance_scale, options.fs) == (
        320,
        512,
        16,
        12.0,
        28,
    )
    tiny_options = VideoCrafter2Backbone.Options(model="tiny", num_frames=4)
    assert (tiny_options.height, tiny_options.width, tiny_options.num_frames) == (16, 16, 4)
    with pytest.raises(ValueError, match="multiple of 8"):
        VideoCrafter2Backbone.Options(height=321)
