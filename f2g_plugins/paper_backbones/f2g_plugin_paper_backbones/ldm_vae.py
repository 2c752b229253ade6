"""The Stable Diffusion image autoencoder as LDM checkpoints store it, run by diffusers' ``AutoencoderKL``.

VideoCrafter2's ``model.ckpt`` keeps its VAE under ``first_stage_model.*`` in the original LDM naming
(``decoder.up.3.block.0.norm1``, 1×1-convolution attention); diffusers' ``AutoencoderKL`` is the same network
under other names (``decoder.up_blocks.0.resnets.0.norm1``, linear attention). :func:`ldm_name` maps each of our
parameter names to the checkpoint's, so loading is strict *in the checkpoint's names*: every key the file must
have is known before anything is read, and a missing or unexpected one is reported as the file spells it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from f2g_torch_utils.checkpoints import load_strict
from f2g_torch_utils.compat import ensure_torchvision

ensure_torchvision()  # before diffusers, which imports transformers and torchvision


@dataclass(frozen=True)
class VAEConfig:
    """The LDM ``ddconfig`` entries that size the network (defaults: the SD 1.x/2.x VAE)."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    scaling_factor: float = 0.18215


def build_vae(config: VAEConfig) -> Any:
    """A diffusers ``AutoencoderKL`` with the LDM architecture of ``config`` (random weights)."""
    from diffusers import AutoencoderKL

    levels = len(config.ch_mult)
    vae: Any = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(config.ch * m for m in config.ch_mult),
        layers_per_block=config.num_res_blocks,
        latent_channels=config.z_channels,
        norm_num_groups=32,
        scaling_factor=config.scaling_factor,
    )
    return vae.eval()


_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_RESNET = {"conv_shortcut": "nin_shortcut"}


def ldm_name(name: str, levels: int) -> str:
    """The LDM checkpoint name of the diffusers ``AutoencoderKL`` parameter ``name`` (``levels`` = len(ch_mult))."""
    name = name.replace("conv_norm_out", "norm_out")
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", name):
        return f"{m[1]}.mid.attn_1.{_ATTENTION[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.(\w+)\.(weight|bias)", name):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{_RESNET.get(m[3], m[3])}.{m[4]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(weight|bias)", name):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_RESNET.get(m[3], m[3])}.{m[4]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(weight|bias)", name):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(weight|bias)", name):  # LDM: reversed
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_RESNET.get(m[3], m[3])}.{m[4]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(weight|bias)", name):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    return name


class LDMNamed(torch.nn.Module):
    """A view of a diffusers ``AutoencoderKL`` whose ``state_dict`` and ``load_state_dict`` speak the LDM names and
    shapes, so :func:`f2g_torch_utils.checkpoints.load_strict` checks and loads a checkpoint's VAE keys as they are."""

    def __init__(self, vae: Any, levels: int) -> None:
        super().__init__()
        self._vae = [vae]  # a list: not registered as a submodule, so our own state_dict stays the view below
        self._names = {ldm_name(name, levels): name for name in vae.state_dict()}

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        own = self._vae[0].state_dict()
        return {key: _to_ldm(own[name]) if _is_attention(name) else own[name] for key, name in self._names.items()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        own = self._vae[0].state_dict()
        renamed = {
            name: state[key][:, :, 0, 0] if _is_attention(name) and own[name].ndim == 2 else state[key]
            for key, name in self._names.items()
        }
        return self._vae[0].load_state_dict(renamed, strict=strict, assign=assign)


def _is_attention(name: str) -> bool:
    return ".attentions.0.to_" in name and name.endswith("weight")


def _to_ldm(tensor: torch.Tensor) -> torch.Tensor:
    return tensor[:, :, None, None] if tensor.ndim == 2 else tensor


def load_ldm_vae(vae: Any, state: Mapping[str, torch.Tensor], levels: int, *, what: str, source: str) -> None:
    """Load an LDM-named VAE state dict into ``vae`` strictly (names and shapes as the checkpoint has them)."""
    load_strict(LDMNamed(vae, levels), state, what=what, source=source, model="the LDM autoencoder")
