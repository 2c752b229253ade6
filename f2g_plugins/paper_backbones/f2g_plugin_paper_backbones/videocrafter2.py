"""VideoCrafter2 as its authors run it: the ``lvdm`` UNet with fs conditioning, the OpenCLIP ViT-H/14 text stage
(penultimate layer), the SD VAE per frame, and the ``use_scale`` DDIM schedule of its configuration.

One published file, ``model.ckpt`` (a Lightning checkpoint; hub ``VideoCrafter/VideoCrafter2``), holds all three
networks under ``model.diffusion_model.*``, ``first_stage_model.*`` and ``cond_stage_model.model.*``, next to the
noise-schedule buffers. Each part is loaded strictly in the file's own names.

The schedule. VideoCrafter2 was trained with its clean latents scaled down at high noise: the forward process is
x_t = s_t·sqrt(ᾱ_t)·x0 + sqrt(1 - ᾱ_t)·ε, where s_t falls linearly from 1 to 0.7 over the first 400 training steps
and stays at 0.7 (``scale_b``; the reference array is built with its "scale bug", i.e. without ``fix_scale_bug``).
So a level's ``alpha`` is s_t·sqrt(ᾱ_t) and its ``sigma`` is sqrt(1 - ᾱ_t); the reference DDIM sampler's step
(timesteps 1, 21, …, 981 for 50 steps; the final level at ᾱ_0; noise std from ᾱ alone) is reproduced by
:meth:`VideoCrafter2Backbone.transition`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.interfaces import Level, Schedule
from f2g_core.steppers import stochastic_std
from f2g_plugin_paper_backbones.common import Networks, PaperBackbone, PaperOptions

if TYPE_CHECKING:
    import torch

TRAIN_STEPS = 1000
LINEAR_START, LINEAR_END = 0.00085, 0.012
SCALE_MID_STEP, SCALE_B = 400, 0.7
UNET_PREFIX, VAE_PREFIX, TEXT_PREFIX = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.model."
SCHEDULE_BUFFERS = frozenset(
    {
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "betas",
        "log_one_minus_alphas_cumprod",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "posterior_variance",
        "scale_arr",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
    }
)
"""Tensors of ``model.ckpt`` that are not weights: the training schedule, recomputed here from its constants."""
TEXT_BUFFERS = frozenset({"attn_mask"})
"""The causal mask some open_clip versions saved with the text tower (rebuilt at run time)."""


def alphas_cumprod() -> list[float]:
    """ᾱ_t of the training schedule ("linear" in LDM's sense: linear in sqrt(β))."""
    a, b = math.sqrt(LINEAR_START), math.sqrt(LINEAR_END)
    out, prod = [], 1.0
    for i in range(TRAIN_STEPS):
        beta = (a + (b - a) * i / (TRAIN_STEPS - 1)) ** 2
        prod *= 1.0 - beta
        out.append(prod)
    return out


def latent_scale(t: int) -> float:
    """s_t: linear from 1 to ``SCALE_B`` over the first ``SCALE_MID_STEP`` steps, then constant."""
    if t >= SCALE_MID_STEP:
        return SCALE_B
    return 1.0 + (SCALE_B - 1.0) * t / (SCALE_MID_STEP - 1)


def vc2_schedule(num_steps: int) -> Schedule:
    """The reference DDIM discretisation ('uniform': every ``1000 // num_steps`` steps, shifted by one).

    Where ``num_steps`` does not divide 1000 the reference lists one step too many and indexes past the schedule;
    we keep its first ``num_steps`` timesteps (identical whenever the reference works, e.g. 50 steps).
    """
    stride = TRAIN_STEPS // num_steps
    timesteps = [i * stride + 1 for i in range(num_steps)][::-1]
    bars = alphas_cumprod()
    levels = [(bars[t], latent_scale(t)) for t in timesteps] + [(bars[0], latent_scale(0))]
    return Schedule(
        timesteps=tuple(float(t) for t in timesteps),
        alphas=tuple(s * math.sqrt(a) for a, s in levels),
        sigmas=tuple(math.sqrt(1.0 - a) for a, _ in levels),
    )


class VideoCrafter2Backbone(PaperBackbone):
    """VideoCrafter2 (official lvdm architecture, fs conditioning; model.ckpt by path or hub id; DDIM)."""

    name = "videocrafter2"
    checkpoint_file: ClassVar[str] = "model.ckpt"

    class Options(PaperOptions):
        model: str = Field(
            "VideoCrafter/VideoCrafter2",
            description="Hub repo holding model.ckpt, a local model.ckpt path, or 'tiny' (random miniature, offline).",
        )
        fs: int = Field(28, ge=1, description="Frame-rate conditioning (the authors' text-to-video script uses 28).")
        guidance_scale: float = Field(12.0, ge=0.0, description="Default CFG scale (the paper's: 12).")

    options: Options

    def _build(self) -> Networks:
        from f2g_plugin_paper_backbones.ldm_vae import VAEConfig, build_vae
        from f2g_plugin_paper_backbones.lvdm_unet import LVDMUNet, LVDMUNetConfig
        from f2g_plugin_paper_backbones.openclip_text import OpenCLIPTextEncoder, TextConfig

        if self.options.model == "tiny":
            from f2g_plugin_paper_backbones import tiny

            return tiny.videocrafter2()
        from f2g_torch_utils.checkpoints import read_state_dict, resolve_checkpoint

        what = f"backbone {self.name!r}"
        path = resolve_checkpoint(self.options.model, self.checkpoint_file, what=what)
        state = read_state_dict(path, what=what)
        unet, vae_config, text = LVDMUNet(LVDMUNetConfig()), VAEConfig(), OpenCLIPTextEncoder(TextConfig())
        vae = build_vae(vae_config)
        load_vc2_state(unet, vae, len(vae_config.ch_mult), text, state, what=what, source=path)
        return Networks(unet=unet, vae=vae, text=text, scaling_factor=vae_config.scaling_factor, vae_scale=8)

    def _encode_text(self, prompt: str) -> torch.Tensor:
        from f2g_plugin_paper_backbones.openclip_text import tokenize

        text = self.nets.text
        return text(tokenize([prompt], text.config.context_length).to(self.device))

    def _eps(self, latents: torch.Tensor, level: Level, context: torch.Tensor) -> torch.Tensor:
        import torch

        n = latents.shape[0]
        timesteps = torch.full((n,), int(level.timestep), device=self.device, dtype=torch.long)
        fs = torch.full((n,), self.options.fs, device=self.device, dtype=torch.long)
        return self.nets.unet(latents, timesteps, context, fs)

    def schedule(self, num_steps: int) -> Schedule:
        if not 1 <= num_steps <= TRAIN_STEPS:
            raise ValueError(f"num_steps must be in [1, {TRAIN_STEPS}], got {num_steps}")
        return vc2_schedule(num_steps)

    def transition(
        self,
        latents: torch.Tensor,
        x0: torch.Tensor,
        src: Level,
        dst: Level,
        noise: torch.Tensor,
        eta: float,
    ) -> torch.Tensor:
        """The reference DDIM step: direction eps and noise std from ᾱ alone, x̂0 re-scaled by the next level's s."""
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        eps = (latents - src.alpha * x0) / src.sigma
        std = stochastic_std(_vp(src), src.sigma, _vp(dst), dst.sigma, eta)
        out = dst.alpha * x0 + math.sqrt(max(dst.sigma**2 - std**2, 0.0)) * eps
        if std > 0.0:
            if noise is None:
                raise ValueError("a stochastic step (eta > 0) needs noise")
            out = out + std * noise
        return out


def _vp(level: Level) -> float:
    """sqrt(ᾱ) of a level (its alpha without the latent scale): sigma² = 1 - ᾱ."""
    return math.sqrt(max(1.0 - level.sigma**2, 0.0))


def load_vc2_state(
    unet: Any, vae: Any, vae_levels: int, text: Any, state: dict[str, Any], *, what: str, source: str
) -> None:
    """Split ``model.ckpt``'s state dict into its three networks and load each strictly (names as published)."""
    from f2g_torch_utils.checkpoints import load_strict

    from f2g_plugin_paper_backbones.ldm_vae import load_ldm_vae

    parts: dict[str, dict[str, Any]] = {UNET_PREFIX: {}, VAE_PREFIX: {}, TEXT_PREFIX: {}}
    stray = []
    for key, tensor in state.items():
        prefix = next((p for p in parts if key.startswith(p)), None)
        if prefix is not None:
            parts[prefix][key[len(prefix) :]] = tensor
        elif key not in SCHEDULE_BUFFERS:
            stray.append(key)
    if stray:
        raise ComponentError(
            f"{what}: checkpoint {source!r} is not a VideoCrafter2 model.ckpt: {len(stray)} unexpected keys "
            f"(e.g. {', '.join(sorted(stray)[:5])})"
        )
    for name in TEXT_BUFFERS:
        parts[TEXT_PREFIX].pop(name, None)
    load_strict(unet, parts[UNET_PREFIX], what=what, source=source, model=f"the VideoCrafter2 UNet ({UNET_PREFIX}*)")
    load_ldm_vae(vae, parts[VAE_PREFIX], vae_levels, what=what, source=source)
    load_strict(text, parts[TEXT_PREFIX], what=what, source=source, model=f"the OpenCLIP text stage ({TEXT_PREFIX}*)")
