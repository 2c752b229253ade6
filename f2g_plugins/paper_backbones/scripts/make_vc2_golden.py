"""Produce the VideoCrafter2 golden values by running the *reference* code (AILab-CVC/VideoCrafter, ``lvdm``).

Run it in a throwaway environment outside this repository, with the reference checkout's path::

    python3 -m venv /tmp/ref-env
    /tmp/ref-env/bin/pip install -c constraints.txt torch==2.13.0 numpy einops omegaconf pytorch_lightning==1.9.5 tqdm
    /tmp/ref-env/bin/python f2g_plugins/paper_backbones/scripts/make_vc2_golden.py /path/to/VideoCrafter

It builds the reference ``LatentDiffusion`` (the VideoCrafter2 configuration: fs conditioning, temporal
convolutions and attention, the ``use_scale`` schedule) at the tiny sizes of ``testing.py``, with an identity text
stage (text embeddings are given directly), fills the UNet and the VAE with the seeded weights of
``testing.seeded_state``, and records: the UNet's output for given latents, timesteps, embeddings and frame rates;
five DDIM steps of the reference sampler (eta 1, CFG) with the noise it drew; and the decoded frames. It also writes
the parameter names and shapes of the *full-size* reference model (built on the meta device) so a test can check
that our modules have the published checkpoint's layout. Outputs: ``tests/golden_vc2.npz`` and
``tests/vc2_layout.json``. Only modules the sampling path never touches are stubbed (``cv2``,
``torchvision.utils``, the OpenCLIP/kornia text-stage module): every class and forward pass used is the reference's.
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


def _stub_unused_modules() -> None:
    """Modules the reference imports at top level for training, logging or other text encoders only."""
    cv2 = types.ModuleType("cv2")
    tv = types.ModuleType("torchvision")
    tv_utils = types.ModuleType("torchvision.utils")
    tv_utils.make_grid = None  # type: ignore[attr-defined]
    tv.utils = tv_utils  # type: ignore[attr-defined]
    condition = types.ModuleType("lvdm.modules.encoders.condition")
    sys.modules.update({"cv2": cv2, "torchvision": tv, "torchvision.utils": tv_utils})
    sys.modules["lvdm.modules.encoders.condition"] = condition


def main() -> None:
    reference = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(reference))
    import pytorch_lightning  # noqa: F401  (first: it probes for torchvision, which the stub below must not fake)

    _stub_unused_modules()
    import lvdm.models.samplers.ddim as ddim_module
    import numpy as np
    import torch
    from lvdm.models.ddpm3d import LatentDiffusion
    from lvdm.models.samplers.ddim import DDIMSampler
    from omegaconf import OmegaConf
    from utils.utils import instantiate_from_config

    t = types.SimpleNamespace(**runpy.run_path(str(PACKAGE / "f2g_plugin_paper_backbones" / "testing.py")))
    config = OmegaConf.load(reference / "configs" / "inference_t2v_512_v2.0.yaml").model.params
    config.cond_stage_config = {"target": "torch.nn.Identity"}

    # The full-size layout: names and shapes of what model.ckpt holds. The UNet and the VAE are built on the meta
    # device (the schedule code needs numpy, so the wrapper itself cannot be); the text stage is open_clip's.
    layout: dict[str, list[int]] = {}
    for prefix, part in (
        ("model.diffusion_model.", config.unet_config),
        ("first_stage_model.", config.first_stage_config),
    ):
        with torch.device("meta"):
            module = instantiate_from_config(part)
        layout.update({prefix + k: list(v.shape) for k, v in module.state_dict().items()})
        del module

    # The tiny model: the same classes and flags, only sizes shrunk.
    config.unet_config.params.update(t.TINY_VC2_UNET)
    config.first_stage_config.params.ddconfig.update(t.TINY_VAE_DDCONFIG)
    model = LatentDiffusion(**{k: config[k] for k in config}).eval()
    state = model.state_dict()
    layout.update({k: list(v.shape) for k, v in state.items() if not k.startswith(t.VC2_SEEDED_PREFIXES)})
    seeded = t.seeded_state({k: v for k, v in state.items() if k.startswith(t.VC2_SEEDED_PREFIXES)}, t.SEED)
    model.load_state_dict({**state, **seeded})

    inputs = t.vc2_inputs()
    unet = model.model.diffusion_model
    with torch.no_grad():
        eps = unet(inputs["latents"], inputs["timesteps"].long(), context=inputs["context"], fps=inputs["fs"])

    # Five DDIM steps (eta 1, CFG 12) of the reference sampler on the CPU; record the noise it draws.
    ddim_module.DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)
    noises: list[torch.Tensor] = []
    generator = torch.Generator().manual_seed(t.SEED + 7)

    def drawn_noise(shape: Any, device: Any, repeat: bool = False) -> torch.Tensor:
        noise = torch.randn(tuple(shape), generator=generator)
        noises.append(noise.clone())
        return noise

    ddim_module.noise_like = drawn_noise
    fs = inputs["sample_fs"].long()
    cond = {"c_crossattn": [inputs["prompt_context"]], "fps": fs}
    uncond = {"c_crossattn": [inputs["uncond_context"]], "fps": fs}
    sampler = DDIMSampler(model)
    with torch.no_grad():
        samples, inter = sampler.sample(
            S=t.VC2_DDIM_STEPS,
            batch_size=inputs["x_T"].shape[0],
            shape=tuple(inputs["x_T"].shape[1:]),
            conditioning=cond,
            verbose=False,
            unconditional_guidance_scale=t.VC2_CFG,
            unconditional_conditioning=uncond,
            eta=1.0,
            x_T=inputs["x_T"].clone(),
            log_every_t=1,
        )
        # Decoded frames of unit-scale VAE inputs (the random models' samples are too large: all pixels clip).
        decode_latents = model.scale_factor * inputs["latents"]
        frames = model.decode_first_stage(decode_latents)

    golden = {
        **{f"input_{k}": v.numpy() for k, v in inputs.items()},
        "eps": eps.numpy(),
        "step_noise": torch.stack(noises).numpy(),
        "step_latents": torch.stack(inter["x_inter"][1:]).numpy(),
        "step_x0": torch.stack(inter["pred_x0"][1:]).numpy(),
        "ddim_timesteps": np.asarray(sampler.ddim_timesteps),
        "alphas_cumprod": model.alphas_cumprod.numpy(),
        "scale_arr": model.scale_arr.numpy(),
        "samples": samples.numpy(),
        "decode_latents": decode_latents.numpy(),
        "frames": frames.numpy(),
        "key_digest": np.frombuffer(t.key_digest(seeded).encode(), dtype=np.uint8),
    }
    np.savez_compressed(PACKAGE / "tests" / "golden_vc2.npz", **golden)
    (PACKAGE / "tests" / "vc2_layout.json").write_text(json.dumps(layout, indent=0, sort_keys=True) + "\n")
    print(f"eps |max| {eps.abs().max():.4f}; samples |max| {samples.abs().max():.4f}; {len(layout)} full-size keys")


if __name__ == "__main__":
    main()
