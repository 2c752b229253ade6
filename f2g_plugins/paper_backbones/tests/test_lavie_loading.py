"""Loading LaVie: ``lavie_base.pt`` (bare or nested under ``ema``) strictly, SD-1.4's parts from a diffusers folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from f2g_plugin_paper_backbones import tiny
from f2g_plugin_paper_backbones.lavie import LaVieBackbone, read_lavie_state
from f2g_torch_utils.checkpoints import load_strict, save_state_dict

from f2g_core.errors import ComponentError


@pytest.mark.parametrize("nest_under", [None, "ema"])
def test_checkpoint_layouts_load_strictly(tmp_path: Path, nest_under: str | None) -> None:
    source = tiny.lavie_unet()
    assert isinstance(source, torch.nn.Module)
    path = save_state_dict(source.state_dict(), tmp_path / "lavie_base.pt", nest_under=nest_under)
    target = tiny.lavie_unet()
    assert isinstance(target, torch.nn.Module)
    for p in target.parameters():
        torch.nn.init.zeros_(p)
    load_strict(target, read_lavie_state(str(path), what="lavie"), what="lavie", source=str(path))
    for (name, a), b in zip(target.state_dict().items(), source.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_checkpoint_without_temporal_layers_is_named() -> None:
    """An SD-1.4 UNet state dict is not LaVie's: the temporal attention keys are reported as missing."""
    unet = tiny.lavie_unet()
    assert isinstance(unet, torch.nn.Module)
    state = {k: v for k, v in unet.state_dict().items() if "_temp" not in k}
    with pytest.raises(ComponentError, match=r"missing keys \(e\.g\. .*attn_temp"):
        load_strict(unet, state, what="backbone 'lavie'", source="sd14.pt", model="the LaVie base UNet")


def test_missing_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    missing = LaVieBackbone(LaVieBackbone.Options(model=str(tmp_path / "lavie_base.pt"), device="cpu"))
    with pytest.raises(ComponentError, match="does not exist"):
        missing.load()


def test_sd_parts_load_from_a_diffusers_folder(tmp_path: Path) -> None:
    """vae/, text_encoder/ and tokenizer/ of a diffusers-format folder, as LaVie's script reads SD-1.4."""
    nets = tiny.lavie()
    nets.vae.save_pretrained(tmp_path / "vae")
    nets.text.save_pretrained(tmp_path / "text_encoder")
    nets.tokenizer.save_pretrained(tmp_path / "tokenizer")
    backbone = LaVieBackbone(LaVieBackbone.Options(model="tiny", sd_model=str(tmp_path), device="cpu"))
    vae, text, tokenizer = backbone._sd_parts("lavie")
    assert tokenizer("a cat").input_ids == nets.tokenizer("a cat").input_ids
    ids = torch.tensor([nets.tokenizer("a cat", padding="max_length", max_length=77).input_ids])
    with torch.no_grad():
        assert torch.equal(text(ids)[0], nets.text(ids)[0])
    assert set(vae.state_dict()) == set(nets.vae.state_dict())
    with pytest.raises(ComponentError, match=r"cannot load SD-1\.4"):
        LaVieBackbone(LaVieBackbone.Options(sd_model=str(tmp_path / "nothing"), device="cpu"))._sd_parts("lavie")


def test_options_defaults_are_the_papers() -> None:
    options = LaVieBackbone.Options()
    assert (options.height, options.width, options.num_frames, options.guidance_scale) == (320, 512, 16, 7.5)
    assert options.sd_model == "CompVis/stable-diffusion-v1-4"
