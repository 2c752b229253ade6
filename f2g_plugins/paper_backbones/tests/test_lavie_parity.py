"""LaVie against golden values produced by the reference code (Vchitect/LaVie ``base/models``, diffusers 0.16).

``scripts/make_lavie_golden.py`` ran the reference UNet, LaVie's sampling loop (CFG + its DDIM scheduler) and SD's
VAE on seeded weights and fixed inputs in their own environment; here the same weights (loaded by the reference's
key names) and inputs go through our UNet and our backbone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from f2g_plugin_paper_backbones.common import TextConditioning
from f2g_plugin_paper_backbones.lavie import DDIM_CONFIG, LaVieBackbone
from f2g_plugin_paper_backbones.testing import LAVIE_CFG, LAVIE_DDIM_STEPS, key_digest, lavie_inputs, seeded_state

from f2g_core.testing import FLOAT32_EPS, assert_close_to_scale

HERE = Path(__file__).parent
GOLDEN = dict(np.load(HERE / "golden_lavie.npz"))
LAYOUT: dict[str, list[int]] = json.loads((HERE / "lavie_layout.json").read_text())
PARITY_ULPS = 4096
pytestmark = pytest.mark.numerics


def _close(ours: torch.Tensor | np.ndarray, golden: np.ndarray, relative: bool = False) -> float:
    """Max |difference| in float32 epsilons of the golden's largest magnitude, asserted within PARITY_ULPS."""
    del relative  # every comparison is relative to the compared tensor's scale (assert_close_to_scale)
    assert_close_to_scale(ours, golden, ulps=PARITY_ULPS)
    got = ours.detach().double().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours, dtype=np.float64)
    return float(np.abs(got - golden).max() / (FLOAT32_EPS * max(float(np.abs(golden).max()), 1e-30)))


@pytest.fixture(scope="module")
def backbone() -> LaVieBackbone:
    lavie = LaVieBackbone(LaVieBackbone.Options(model="tiny", device="cpu", height=16, width=16, num_frames=4))
    lavie.load()
    return lavie


def test_golden_file_describes_these_inputs_and_weights(backbone: LaVieBackbone) -> None:
    for key, value in lavie_inputs().items():
        # seeded torch.randn: equal up to a few ε of each value on every CPU (log, sqrt, cos differ by kernel path)
        assert_close_to_scale(value, GOLDEN[f"input_{key}"], ulps=16, what=f"input {key}")
    assert key_digest(seeded_state(backbone.nets.unet.state_dict())) == GOLDEN["unet_key_digest"].tobytes().decode()


def test_unet_matches_reference(backbone: LaVieBackbone) -> None:
    inputs = lavie_inputs()
    with torch.no_grad():
        eps = backbone.nets.unet(inputs["latents"], inputs["timesteps"].long(), inputs["context"])
    _close(eps, GOLDEN["eps"])


def test_frame_order_matters(backbone: LaVieBackbone) -> None:
    """The temporal attention sees frame positions (rotary + relative bias): reversing the frames is not a no-op."""
    inputs = lavie_inputs()
    with torch.no_grad():
        eps = backbone.nets.unet(inputs["latents"], inputs["timesteps"].long(), inputs["context"])
        flipped = backbone.nets.unet(inputs["latents"].flip(2), inputs["timesteps"].long(), inputs["context"])
    assert float((eps.flip(2) - flipped).abs().max()) > 1e-3


def test_schedule_is_lavies(backbone: LaVieBackbone) -> None:
    from diffusers import DDIMScheduler

    scheduler: Any = DDIMScheduler(**DDIM_CONFIG)
    # a cumulative product of 1,000 float32 factors: each multiply rounds by ≤ ½ ε, so ≤ 500 ε of the scale (1)
    assert_close_to_scale(scheduler.alphas_cumprod, GOLDEN["alphas_cumprod"], ulps=1024, what="alphas_cumprod")
    schedule = backbone.schedule(LAVIE_DDIM_STEPS)
    assert [int(t) for t in schedule.timesteps] == GOLDEN["ddim_timesteps"].tolist()


def test_ddim_steps_match_reference_loop(backbone: LaVieBackbone) -> None:
    """Five eta-1 DDIM steps with CFG 7.5 through our backbone with the reference's noise: x̂0 and latents."""
    inputs = lavie_inputs()
    schedule = backbone.schedule(LAVIE_DDIM_STEPS)
    cond = TextConditioning(inputs["prompt_context"], inputs["uncond_context"], LAVIE_CFG)
    latents = inputs["x_T"]
    for i in range(schedule.num_steps):
        src, dst = schedule.level(i), schedule.level(i + 1)
        x0 = backbone.denoise(latents, src, cond)
        _close(x0, GOLDEN["step_x0"][i], relative=True)
        latents = backbone.transition(latents, x0, src, dst, torch.from_numpy(GOLDEN["step_noise"][i]), 1.0)
        _close(latents, GOLDEN["step_latents"][i], relative=True)
    _close(latents, GOLDEN["samples"], relative=True)


def test_decoding_matches_reference(backbone: LaVieBackbone) -> None:
    latents = torch.from_numpy(GOLDEN["decode_latents"])
    expected = np.clip(GOLDEN["frames"] / 2 + 0.5, 0, 1).transpose(0, 1, 3, 4, 2)  # (B, F, H, W, 3)
    _close(backbone.decode_video(latents), expected)
    _close(backbone.decode(latents, [2, 1]), expected[:, [2, 1]])


def test_full_size_layout_is_lavie_base() -> None:
    """Our full-size UNet has exactly the reference UNet's names and shapes (the layout of lavie_base.pt)."""
    from f2g_plugin_paper_backbones.lavie_unet import LaVieUNet

    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in LaVieUNet().state_dict().items()}
    assert ours == LAYOUT
    assert sum(k.endswith("attn_temp.rotary_emb.freqs") for k in ours) == 16  # one per transformer block
