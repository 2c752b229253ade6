"""VideoCrafter2 against golden values produced by the reference code (AILab-CVC/VideoCrafter's ``lvdm``).

``scripts/make_vc2_golden.py`` ran the reference ``LatentDiffusion`` (VideoCrafter2's configuration at tiny sizes)
and its DDIM sampler on seeded weights and fixed inputs in its own environment; here the same weights (loaded by
the reference's key names, which checks our layout) and inputs go through our modules and our backbone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from f2g_plugin_paper_backbones.common import TextConditioning
from f2g_plugin_paper_backbones.testing import VC2_CFG, VC2_DDIM_STEPS, key_digest, seeded_state, vc2_inputs
from f2g_plugin_paper_backbones.videocrafter2 import (
    SCALE_MID_STEP,
    SCHEDULE_BUFFERS,
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    VideoCrafter2Backbone,
    alphas_cumprod,
    latent_scale,
)

from f2g_core.testing import FLOAT32_EPS, assert_close_to_scale

HERE = Path(__file__).parent
GOLDEN = dict(np.load(HERE / "golden_vc2.npz"))
LAYOUT: dict[str, list[int]] = json.loads((HERE / "vc2_layout.json").read_text())
PARITY_ULPS = 4096
pytestmark = pytest.mark.numerics


def _close(ours: torch.Tensor | np.ndarray, golden: np.ndarray, relative: bool = False) -> float:
    """Max |difference| in float32 epsilons of the golden's largest magnitude, asserted within PARITY_ULPS."""
    del relative  # every comparison is relative to the compared tensor's scale (assert_close_to_scale)
    assert_close_to_scale(ours, golden, ulps=PARITY_ULPS)
    got = ours.detach().double().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours, dtype=np.float64)
    return float(np.abs(got - golden).max() / (FLOAT32_EPS * max(float(np.abs(golden).max()), 1e-30)))


@pytest.fixture(scope="module")
def backbone() -> VideoCrafter2Backbone:
    vc2 = VideoCrafter2Backbone(
        VideoCrafter2Backbone.Options(model="tiny", device="cpu", height=16, width=16, num_frames=4)
    )
    vc2.load()
    return vc2


def test_golden_file_describes_these_inputs_and_weights(backbone: VideoCrafter2Backbone) -> None:
    """If the shared inputs or the tiny layout drift, the goldens no longer apply: rerun the script."""
    for key, value in vc2_inputs().items():
        # seeded torch.randn: equal up to a few ε of each value on every CPU (log, sqrt, cos differ by kernel path)
        assert_close_to_scale(value, GOLDEN[f"input_{key}"], ulps=16, what=f"input {key}")
    ours = {UNET_PREFIX + k: v for k, v in backbone.nets.unet.state_dict().items()}
    from f2g_plugin_paper_backbones.ldm_vae import LDMNamed

    ours.update({VAE_PREFIX + k: v for k, v in LDMNamed(backbone.nets.vae, 2).state_dict().items()})
    assert key_digest(seeded_state(ours)) == GOLDEN["key_digest"].tobytes().decode()


def test_unet_matches_reference(backbone: VideoCrafter2Backbone) -> None:
    inputs = vc2_inputs()
    with torch.no_grad():
        eps = backbone.nets.unet(inputs["latents"], inputs["timesteps"].long(), inputs["context"], inputs["fs"].long())
    _close(eps, GOLDEN["eps"])


def test_fs_changes_the_output(backbone: VideoCrafter2Backbone) -> None:
    """The frame rate is an input of the network (the community conversion drops it)."""
    inputs = vc2_inputs()
    with torch.no_grad():
        a = backbone.nets.unet(inputs["latents"], inputs["timesteps"].long(), inputs["context"], torch.tensor([28, 28]))
        b = backbone.nets.unet(inputs["latents"], inputs["timesteps"].long(), inputs["context"], torch.tensor([8, 8]))
    assert float((a - b).abs().max()) > 1e-3


def test_schedule_matches_reference_buffers() -> None:
    np.testing.assert_allclose(np.asarray(alphas_cumprod()), GOLDEN["alphas_cumprod"], rtol=1e-6)
    ours = np.asarray([latent_scale(t) for t in range(1000)])
    np.testing.assert_allclose(ours, GOLDEN["scale_arr"][:1000], rtol=1e-6)
    assert latent_scale(SCALE_MID_STEP) == pytest.approx(0.7)


def test_ddim_steps_match_reference_sampler(backbone: VideoCrafter2Backbone) -> None:
    """Five steps of eta-1 DDIM with CFG 12 through our backbone (schedule, CFG, x̂0, transition) with the
    reference's noise: x̂0 and latents after every step."""
    inputs = vc2_inputs()
    schedule = backbone.schedule(VC2_DDIM_STEPS)
    assert [int(t) for t in schedule.timesteps] == GOLDEN["ddim_timesteps"][::-1].tolist()
    cond = TextConditioning(inputs["prompt_context"][:1], inputs["uncond_context"][:1], VC2_CFG)
    latents = inputs["x_T"]
    diffs = []
    for i in range(schedule.num_steps):
        src, dst = schedule.level(i), schedule.level(i + 1)
        x0 = backbone.denoise(latents, src, cond)
        diffs.append(_close(x0, GOLDEN["step_x0"][i], relative=True))
        latents = backbone.transition(latents, x0, src, dst, torch.from_numpy(GOLDEN["step_noise"][i]), 1.0)
        diffs.append(_close(latents, GOLDEN["step_latents"][i], relative=True))
    _close(latents, GOLDEN["samples"], relative=True)


def test_decoding_matches_reference(backbone: VideoCrafter2Backbone) -> None:
    """Whole videos and key frames alone (the VAE is per-frame: both are exact)."""
    latents = torch.from_numpy(GOLDEN["decode_latents"])
    expected = np.clip(GOLDEN["frames"] / 2 + 0.5, 0, 1).transpose(0, 2, 3, 4, 1)  # (B, F, H, W, 3)
    _close(backbone.decode_video(latents), expected)
    _close(backbone.decode(latents, [3, 0]), expected[:, [3, 0]])


def _meta_state(module_factory: Any) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        module = module_factory()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_full_size_layout_is_the_published_one() -> None:
    """Our full-size UNet and VAE have exactly the reference model's names and shapes; the rest is the schedule."""
    from f2g_plugin_paper_backbones.ldm_vae import LDMNamed, VAEConfig, build_vae
    from f2g_plugin_paper_backbones.lvdm_unet import LVDMUNet

    published = {k: tuple(v) for k, v in LAYOUT.items()}
    unet = {UNET_PREFIX + k: v for k, v in _meta_state(LVDMUNet).items()}
    with torch.device("meta"):
        vae = build_vae(VAEConfig())
    vae_layout = {VAE_PREFIX + k: tuple(v.shape) for k, v in LDMNamed(vae, 4).state_dict().items()}
    assert unet == {k: v for k, v in published.items() if k.startswith(UNET_PREFIX)}
    assert vae_layout == {k: v for k, v in published.items() if k.startswith(VAE_PREFIX)}
    assert set(published) - set(unet) - set(vae_layout) == SCHEDULE_BUFFERS


def test_text_stage_layout_is_open_clips_vit_h() -> None:
    """The text tower has the names and shapes of open_clip's ViT-H-14 without its image tower, as stored."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    open_clip = pytest.importorskip("open_clip")
    from f2g_plugin_paper_backbones.openclip_text import OpenCLIPTextEncoder

    with torch.device("meta"):
        reference = open_clip.create_model("ViT-H-14", pretrained=None, device="meta")
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items() if not k.startswith("visual.")}
    expected.pop("attn_mask", None)
    assert _meta_state(OpenCLIPTextEncoder) == expected
    assert TEXT_PREFIX == "cond_stage_model.model."


def test_text_stage_matches_open_clip_penultimate() -> None:
    """Our text tower equals open_clip's (tiny, seeded) read at the penultimate block and final LayerNorm."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    open_clip = pytest.importorskip("open_clip")
    from f2g_plugin_paper_backbones.openclip_text import OpenCLIPTextEncoder, TextConfig, tokenize

    ours = OpenCLIPTextEncoder(TextConfig(width=64, heads=4, layers=3, embed_dim=32)).eval()
    ours.load_state_dict(seeded_state(ours.state_dict()))
    reference = open_clip.CLIP(
        embed_dim=32,
        vision_cfg=open_clip.CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=16),
        text_cfg=open_clip.CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=4, layers=3),
    ).eval()
    text_state = {k: v for k, v in ours.state_dict().items()}
    missing = reference.load_state_dict(text_state, strict=False).missing_keys
    assert all(k.startswith("visual.") for k in missing)
    ids = tokenize(["a red car driving at night", ""])
    with torch.no_grad():
        x = reference.token_embedding(ids) + reference.positional_embedding
        for block in reference.transformer.resblocks[:-1]:
            x = block(x, attn_mask=reference.attn_mask)
        expected = reference.ln_final(x)
        _close(ours(ids), expected.numpy())
