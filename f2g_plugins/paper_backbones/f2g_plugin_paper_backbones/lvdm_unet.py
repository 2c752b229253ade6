"""VideoCrafter2's denoiser: the ``lvdm`` 3D UNet with frame-rate (``fs``) conditioning, written from its description.

The network is a Stable-Diffusion-style UNet run on every frame (frames folded into the batch), with three video
additions: a temporal convolution stack after every residual block, a temporal self-attention transformer after
every spatial transformer (plus one right after the input convolution), and a second sinusoidal embedding of the
frame rate added to the timestep embedding. Module and attribute names follow the published checkpoint
(``model.diffusion_model.*`` in ``model.ckpt``) so its state dict loads strictly, spelling included (the
temporal convolution is stored as ``temopral_conv``).

Attention and feed-forward layers are diffusers' :class:`~diffusers.models.attention.BasicTransformerBlock`
(its parameter names and its pre-norm self-, cross-attention and GEGLU order are those of the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from f2g_torch_utils.compat import ensure_torchvision
from torch import nn
from torch.nn import functional as F

ensure_torchvision()  # before diffusers, which imports transformers and torchvision


@dataclass(frozen=True)
class LVDMUNetConfig:
    """The constructor arguments of the UNet that matter for VideoCrafter2 (defaults: the published 512 model)."""

    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (4, 2, 1)
    num_head_channels: int = 64
    transformer_depth: int = 1
    context_dim: int = 1024
    init_attention_heads: int = 8
    """Heads of the temporal transformer after the input convolution (fixed in the reference architecture)."""
    fps_cond: bool = True


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the activations' dtype (as the checkpoint was trained)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type(x.dtype)


def sinusoidal_embedding(values: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """The [cos | sin] embedding of (possibly fractional) timesteps or frame rates, float32."""
    from diffusers.models.embeddings import get_timestep_embedding

    return get_timestep_embedding(
        values.float(), dim, flip_sin_to_cos=True, downscale_freq_shift=0, max_period=max_period
    )


def _mlp(inner: int, outer: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inner, outer), nn.SiLU(), nn.Linear(outer, outer))


class TemporalConvBlock(nn.Module):
    """Four (norm, SiLU, 3×1×1 convolution) stages over time with a residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()

        def stage(dropout: bool) -> nn.Sequential:
            layers: list[nn.Module] = [nn.GroupNorm(32, channels), nn.SiLU()]
            if dropout:
                layers.append(nn.Dropout(0.1))
            layers.append(nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0)))
            return nn.Sequential(*layers)

        self.conv1 = stage(False)
        self.conv2 = stage(True)
        self.conv3 = stage(True)
        self.conv4 = stage(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv4(self.conv3(self.conv2(self.conv1(x))))


class ResBlock(nn.Module):
    """Residual block conditioned on the (timestep + fps) embedding, then the temporal convolution stack."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            GroupNorm32(32, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(32, out_channels),
            nn.SiLU(),
            nn.Dropout(0.0),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )
        self.temopral_conv = TemporalConvBlock(out_channels)  # the checkpoint's spelling

    def forward(self, x: torch.Tensor, emb: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[..., None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        h = _to_video(h, frames)
        return _to_frames(self.temopral_conv(h))


def _to_video(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B·F, C, H, W) -> (B, C, F, H, W)."""
    bf, c, h, w = x.shape
    return x.reshape(bf // frames, frames, c, h, w).transpose(1, 2)


def _to_frames(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) -> (B·F, C, H, W)."""
    b, c, f, h, w = x.shape
    return x.transpose(1, 2).reshape(b * f, c, h, w)


def _block(dim: int, heads: int, head_dim: int, context_dim: int | None) -> nn.Module:
    from diffusers.models.attention import BasicTransformerBlock

    return BasicTransformerBlock(
        dim,
        heads,
        head_dim,
        cross_attention_dim=context_dim,
        activation_fn="geglu",
        attention_bias=False,
        double_self_attention=context_dim is None,  # temporal blocks: both attentions attend to the frames
    )


class SpatialTransformer(nn.Module):
    """Per-frame self- and cross-attention over the H·W tokens (linear projections in and out)."""

    def __init__(self, channels: int, heads: int, head_dim: int, depth: int, context_dim: int) -> None:
        super().__init__()
        inner = heads * head_dim
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([_block(inner, heads, head_dim, context_dim) for _ in range(depth)])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        bf, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.transformer_blocks:
            tokens = block(tokens, encoder_hidden_states=context)
        return x + self.proj_out(tokens).transpose(1, 2).reshape(bf, c, h, w)


class TemporalTransformer(nn.Module):
    """Self-attention across frames at every spatial position (no positional encoding, as VideoCrafter2 has it).

    ``linear`` selects linear projections in and out; the first temporal transformer uses 1×1 convolutions.
    """

    def __init__(self, channels: int, heads: int, head_dim: int, depth: int, *, linear: bool) -> None:
        super().__init__()
        inner = heads * head_dim
        self.linear = linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in: nn.Module = nn.Linear(channels, inner) if linear else nn.Conv1d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList([_block(inner, heads, head_dim, None) for _ in range(depth)])
        self.proj_out: nn.Module = nn.Linear(inner, channels) if linear else nn.Conv1d(inner, channels, 1)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        video = _to_video(x, frames)
        b, c, f, h, w = video.shape
        seq = self.norm(video).permute(0, 3, 4, 1, 2).reshape(b * h * w, c, f)  # (B·H·W, C, F)
        tokens = self.proj_in(seq.transpose(1, 2)) if self.linear else self.proj_in(seq).transpose(1, 2)
        for block in self.transformer_blocks:
            tokens = block(tokens)
        out = self.proj_out(tokens) if self.linear else self.proj_out(tokens.transpose(1, 2)).transpose(1, 2)
        out = out.reshape(b, h, w, f, c).permute(0, 4, 3, 1, 2)
        return x + _to_frames(out)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Stage(nn.Sequential):
    """One entry of the input/middle/output block lists: layers applied in order, each given what it needs."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb, frames)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, TemporalTransformer):
                x = layer(x, frames)
            else:
                x = layer(x)
        return x


class LVDMUNet(nn.Module):
    """The VideoCrafter2 UNet: ``forward(x (B, C, F, H, W), timesteps (B,), context (B, L, D), fs (B,))`` -> eps."""

    def __init__(self, config: LVDMUNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or LVDMUNetConfig()
        self.config = cfg
        mc = cfg.model_channels
        emb = mc * 4
        self.time_embed = _mlp(mc, emb)
        if cfg.fps_cond:
            self.fps_embedding = _mlp(mc, emb)

        def attention(ch: int) -> list[nn.Module]:
            heads = ch // cfg.num_head_channels
            return [
                SpatialTransformer(ch, heads, cfg.num_head_channels, cfg.transformer_depth, cfg.context_dim),
                TemporalTransformer(ch, heads, cfg.num_head_channels, cfg.transformer_depth, linear=True),
            ]

        self.input_blocks = nn.ModuleList([Stage(nn.Conv2d(cfg.in_channels, mc, 3, padding=1))])
        self.init_attn = Stage(
            TemporalTransformer(
                mc, cfg.init_attention_heads, cfg.num_head_channels, cfg.transformer_depth, linear=False
            )
        )
        skips = [mc]
        ch, ds = mc, 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb, mult * mc)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers += attention(ch)
                self.input_blocks.append(Stage(*layers))
                skips.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(Stage(Downsample(ch)))
                skips.append(ch)
                ds *= 2
        self.middle_block = Stage(ResBlock(ch, emb, ch), *attention(ch), ResBlock(ch, emb, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), emb, mc * mult)]
                ch = mc * mult
                if ds in cfg.attention_resolutions:
                    layers += attention(ch)
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(Stage(*layers))
        self.out = nn.Sequential(GroupNorm32(32, ch), nn.SiLU(), nn.Conv2d(mc, cfg.out_channels, 3, padding=1))

    def forward(
        self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, fs: torch.Tensor | None = None
    ) -> torch.Tensor:
        mc = self.config.model_channels
        dtype = next(self.parameters()).dtype
        emb = self.time_embed(sinusoidal_embedding(timesteps, mc).to(dtype))
        if self.config.fps_cond:
            if fs is None:
                raise ValueError("this UNet is conditioned on the frame rate: pass fs")
            emb = emb + self.fps_embedding(sinusoidal_embedding(fs, mc).to(dtype))
        frames = x.shape[2]
        context = context.to(dtype).repeat_interleave(frames, dim=0)
        emb = emb.repeat_interleave(frames, dim=0)
        h = _to_frames(x.to(dtype))
        hs = []
        for index, stage in enumerate(self.input_blocks):
            h = stage(h, emb, context, frames)
            if index == 0:
                h = self.init_attn(h, emb, context, frames)
            hs.append(h)
        h = self.middle_block(h, emb, context, frames)
        for stage in self.output_blocks:
            h = stage(torch.cat([h, hs.pop()], dim=1), emb, context, frames)
        return _to_video(self.out(h), frames).to(x.dtype)
