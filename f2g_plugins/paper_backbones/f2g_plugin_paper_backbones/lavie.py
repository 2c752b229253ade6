"""LaVie's base text-to-video model as its authors run it: the inflated SD-1.4 UNet of ``lavie_base.pt``, SD-1.4's
CLIP ViT-L/14 text encoder (last layer) and VAE (per frame), and DDIM on LaVie's linear β schedule.

Only the base stage (16 frames at 320×512) is here; LaVie's interpolation and super-resolution stages are out of
scope. The UNet checkpoint loads strictly in its published names; the VAE, text encoder and tokenizer come from a
diffusers-format SD-1.4 (hub ``CompVis/stable-diffusion-v1-4`` or a local folder), loaded by diffusers and
transformers as LaVie's own script loads them.

The schedule is LaVie's: its sample script builds the DDIM scheduler from SD-1.4's scheduler config but overrides
the betas with ``linear`` 1e-4 → 0.02 (not SD's ``scaled_linear``), keeping SD's ``steps_offset: 1`` and
``set_alpha_to_one: false`` — so 50 steps visit 981, 961, …, 1 and end at ᾱ_0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from f2g_core.errors import ComponentError
from f2g_core.interfaces import Level, Schedule
from f2g_plugin_paper_backbones.common import Networks, PaperBackbone, PaperOptions

if TYPE_CHECKING:
    import torch

DDIM_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "epsilon",
}
"""The DDIM scheduler of LaVie's sample script (SD-1.4's scheduler config with ``base/configs/sample.yaml``'s betas)."""


class LaVieBackbone(PaperBackbone):
    """LaVie base (inflated SD-1.4 UNet with rotary + relative-position temporal attention; lavie_base.pt; DDIM)."""

    name = "lavie"
    checkpoint_file: ClassVar[str] = "lavie_base.pt"

    class Options(PaperOptions):
        model: str = Field(
            "YaohuiW/LaVie",
            description="Hub repo holding lavie_base.pt, a local lavie_base.pt path, or 'tiny' (random, offline).",
        )
        sd_model: str = Field(
            "CompVis/stable-diffusion-v1-4",
            description="SD-1.4 in diffusers format (hub id or local folder): its vae, text_encoder and tokenizer.",
        )
        guidance_scale: float = Field(7.5, ge=0.0, description="Default CFG scale (LaVie's and the paper's: 7.5).")

    options: Options

    def _build(self) -> Networks:
        if self.options.model == "tiny":
            from f2g_plugin_paper_backbones import tiny

            return tiny.lavie()
        from f2g_torch_utils.checkpoints import load_strict, resolve_checkpoint

        from f2g_plugin_paper_backbones.lavie_unet import LaVieUNet

        what = f"backbone {self.name!r}"
        path = resolve_checkpoint(self.options.model, self.checkpoint_file, what=what)
        unet = LaVieUNet()
        load_strict(unet, read_lavie_state(path, what=what), what=what, source=path, model="the LaVie base UNet")
        vae, text, tokenizer = self._sd_parts(what)
        return Networks(unet=unet, vae=vae, text=text, scaling_factor=0.18215, vae_scale=8, tokenizer=tokenizer)

    def _sd_parts(self, what: str) -> tuple[Any, Any, Any]:
        """SD-1.4's VAE, CLIP text encoder and tokenizer, as LaVie's sample script loads them."""
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        from diffusers import AutoencoderKL
        from transformers import CLIPTextModel, CLIPTokenizer

        source = self.options.sd_model
        try:
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae")
            text = CLIPTextModel.from_pretrained(source, subfolder="text_encoder")
            tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer")
        except (OSError, ValueError) as error:
            raise ComponentError(
                f"{what}: cannot load SD-1.4's vae/text_encoder/tokenizer from {source!r}: {error}. Set "
                "options.sd_model to a diffusers-format Stable Diffusion 1.4 folder or hub id."
            ) from error
        return vae, text, tokenizer

    def _encode_text(self, prompt: str) -> torch.Tensor:
        nets = self.nets
        ids = nets.tokenizer(
            [prompt],
            padding="max_length",
            max_length=nets.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        return nets.text(ids.to(self.device))[0]

    def _eps(self, latents: torch.Tensor, level: Level, context: torch.Tensor) -> torch.Tensor:
        import torch

        timesteps = torch.full((latents.shape[0],), int(level.timestep), device=self.device, dtype=torch.long)
        return self.nets.unet(latents, timesteps, context)

    def schedule(self, num_steps: int) -> Schedule:
        from f2g_torch_utils.compat import ensure_torchvision

        ensure_torchvision()
        from diffusers import DDIMScheduler
        from f2g_plugin_diffusers.schedules import ddim_schedule

        return ddim_schedule(DDIMScheduler(**DDIM_CONFIG), num_steps)


def read_lavie_state(path: str, *, what: str) -> dict[str, torch.Tensor]:
    """``lavie_base.pt``'s UNet state dict; training checkpoints nest it under ``ema`` (LaVie's loader takes that)."""
    import torch
    from f2g_torch_utils.checkpoints import read_state_dict

    try:
        return read_state_dict(path, what=what)
    except ComponentError:
        if not Path(path).expanduser().is_file():
            raise
        state: Any = torch.load(str(Path(path).expanduser()), map_location="cpu", weights_only=True)
        if isinstance(state, Mapping) and isinstance(state.get("ema"), Mapping):
            return dict(state["ema"])
        raise
