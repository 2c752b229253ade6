"""Produce the LaVie golden values by running the *reference* code (Vchitect/LaVie, ``base/models``).

Run it in a throwaway environment outside this repository with the diffusers version LaVie pins, and the
reference checkout's path::

    python3 -m venv /tmp/ref-env-lavie
    /tmp/ref-env-lavie/bin/pip install -c constraints.txt torch==2.13.0 numpy diffusers==0.16.0 \\
        "huggingface_hub<0.26" einops rotary_embedding_torch
    /tmp/ref-env-lavie/bin/python f2g_plugins/paper_backbones/scripts/make_lavie_golden.py /path/to/LaVie

It builds the reference ``UNet3DConditionModel`` (LaVie's base UNet: SD-1.4 inflated, temporal attention with
rotary embeddings and relative-position bias) at the tiny sizes of ``testing.py`` and SD's ``AutoencoderKL`` of
diffusers 0.16 (what LaVie decodes with), fills both with the seeded weights of ``testing.seeded_state``, and
records: the UNet's output for given latents, timesteps and text embeddings; five steps of LaVie's sampling loop
(its pipeline's CFG and ``DDIMScheduler.step`` with eta 1, the scheduler configured as LaVie's sample script does)
with the noise drawn; and the decoded frames. It also writes the parameter names and shapes of the *full-size*
UNet (LaVie's ``from_pretrained_2d`` configuration of SD-1.4, built on the meta device): the layout of
``lavie_base.pt``. Outputs: ``tests/golden_lavie.npz`` and ``tests/lavie_layout.json``.
"""

from __future__ import annotations

import json
import runpy
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent.parent
# f2g_torch_utils.checkpoints (and the f2g_core.errors it raises) need only the standard library and torch
sys.path[:0] = [str(REPO), str(REPO / "f2g_plugins" / "torch_utils")]

SD14_UNET = {  # stable-diffusion-v1-4/unet/config.json, with the block types LaVie's from_pretrained_2d sets
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
    "use_first_frame": False,
}
SD14_SCHEDULER = {  # stable-diffusion-v1-4/scheduler/scheduler_config.json (the keys a DDIMScheduler reads)
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
}
OLD_VAE_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _current_name(key: str) -> str:
    """diffusers 0.16 names the VAE's attention projections query/key/value/proj_attn; later versions to_q/…."""
    for old, new in OLD_VAE_ATTENTION.items():
        key = key.replace(f".attentions.0.{old}.", f".attentions.0.{new}.")
    return key


def main() -> None:
    reference = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(reference / "base"))
    import diffusers
    import numpy as np
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from models.unet import UNet3DConditionModel
    from omegaconf import OmegaConf

    t = types.SimpleNamespace(**runpy.run_path(str(PACKAGE / "f2g_plugin_paper_backbones" / "testing.py")))

    with torch.device("meta"):
        full = UNet3DConditionModel(**SD14_UNET)
    layout = {k: list(v.shape) for k, v in full.state_dict().items()}
    del full

    unet: Any = UNet3DConditionModel(**{**SD14_UNET, **t.TINY_LAVIE_UNET}).eval()
    seeded_unet = t.seeded_state(unet.state_dict(), t.SEED)
    unet.load_state_dict(seeded_unet)
    vae: Any = AutoencoderKL(**t.TINY_SD_VAE)
    vae.eval()
    own = vae.state_dict()
    seeded = t.seeded_state({_current_name(k): v for k, v in own.items()}, t.SEED)
    vae.load_state_dict({k: seeded[_current_name(k)] for k in own})

    inputs = t.lavie_inputs()
    with torch.no_grad():
        eps = unet(inputs["latents"], inputs["timesteps"].long(), encoder_hidden_states=inputs["context"]).sample

    # LaVie's sampling loop (pipeline_videogen.__call__) with DDIM, eta 1, CFG 7.5, on the reference UNet.
    # LaVie's sample script: DDIMScheduler.from_pretrained(sd_path, subfolder="scheduler", beta_start=…, …)
    sample = OmegaConf.load(reference / "base" / "configs" / "sample.yaml")
    betas = {"beta_start": sample.beta_start, "beta_end": sample.beta_end, "beta_schedule": sample.beta_schedule}
    scheduler: Any = DDIMScheduler(**{**SD14_SCHEDULER, **betas})
    scheduler.set_timesteps(t.LAVIE_DDIM_STEPS)
    generator = torch.Generator().manual_seed(t.SEED + 7)
    n = inputs["x_T"].shape[0]
    context = torch.cat([inputs["uncond_context"].expand(n, -1, -1), inputs["prompt_context"].expand(n, -1, -1)])
    latents = inputs["x_T"].clone()
    noises, step_latents, step_x0 = [], [], []
    with torch.no_grad():
        for step in scheduler.timesteps:
            out = unet(torch.cat([latents] * 2), step, encoder_hidden_states=context).sample
            uncond, cond = out.chunk(2)
            noise_pred = uncond + t.LAVIE_CFG * (cond - uncond)
            noise = torch.randn(latents.shape, generator=generator)
            result = scheduler.step(noise_pred, step, latents, eta=1.0, variance_noise=noise)
            latents = result.prev_sample
            noises.append(noise)
            step_latents.append(latents)
            step_x0.append(result.pred_original_sample)
        # LaVie's decode_latents on unit-scale VAE inputs (the random models' samples are too large: all pixels clip).
        decode_latents = 0.18215 * inputs["latents"]
        b, c, f, h, w = decode_latents.shape
        frames = vae.decode(decode_latents.transpose(1, 2).reshape(b * f, c, h, w) / 0.18215).sample
        frames = frames.reshape(b, f, *frames.shape[1:])

    golden = {
        **{f"input_{k}": v.numpy() for k, v in inputs.items()},
        "eps": eps.numpy(),
        "step_noise": torch.stack(noises).numpy(),
        "step_latents": torch.stack(step_latents).numpy(),
        "step_x0": torch.stack(step_x0).numpy(),
        "ddim_timesteps": scheduler.timesteps.numpy(),
        "alphas_cumprod": scheduler.alphas_cumprod.numpy(),
        "samples": latents.numpy(),
        "decode_latents": decode_latents.numpy(),
        "frames": frames.numpy(),
        "unet_key_digest": np.frombuffer(t.key_digest(seeded_unet).encode(), dtype=np.uint8),
        "diffusers_version": np.frombuffer(diffusers.__version__.encode(), dtype=np.uint8),
    }
    np.savez_compressed(PACKAGE / "tests" / "golden_lavie.npz", **golden)
    (PACKAGE / "tests" / "lavie_layout.json").write_text(json.dumps(layout, indent=0, sort_keys=True) + "\n")
    print(f"eps |max| {eps.abs().max():.4f}; samples |max| {latents.abs().max():.4f}; {len(layout)} full-size keys")


if __name__ == "__main__":
    main()
