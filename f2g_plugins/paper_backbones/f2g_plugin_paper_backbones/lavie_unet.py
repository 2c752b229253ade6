"""LaVie's base denoiser: Stable Diffusion 1.4's UNet with a temporal attention layer in every transformer block.

Frames are folded into the batch for everything spatial (convolutions, resnets, self- and cross-attention), so
the spatial network is SD-1.4's; each transformer block then attends across frames at every token, with two
position signals: rotary embeddings on the first 32 channels of each head's queries and keys (one table shared by
the whole network, as the reference shares its ``RotaryEmbedding(32)``) and a learned T5-style relative-position
bias per head (32 buckets, max distance 32). One more video detail: the GroupNorms of the residual blocks and the
output normalise each sample over all its frames together (the convolutions are per frame), so activations stay
(B, C, F, H, W) between layers. Module names follow ``lavie_base.pt``, so it loads strictly; attention and
feed-forward layers are diffusers' ``Attention`` and ``FeedForward``, whose names are the checkpoint's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from f2g_torch_utils.compat import ensure_torchvision
from torch import nn
from torch.nn import functional as F

ensure_torchvision()  # before diffusers, which imports transformers and torchvision


@dataclass(frozen=True)
class LaVieUNetConfig:
    """Sizes of the UNet (defaults: SD-1.4, as LaVie inflates it)."""

    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    cross_attention: tuple[bool, ...] = (True, True, True, False)
    """Per down level (the up levels mirror it): whether the level has transformer blocks."""
    layers_per_block: int = 2
    heads: int = 8
    """Attention heads everywhere (SD-1.x's ``attention_head_dim: 8`` is, in fact, the head count)."""
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    rotary_dim: int = 32


class RotaryEmbedding(nn.Module):
    """Rotary position embedding over frames on the first ``dim`` channels (interleaved pairs, base 10000).

    ``freqs`` is stored as a (frozen) parameter because the checkpoint stores it under every temporal attention.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.freqs = nn.Parameter(
            1.0 / 10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim), requires_grad=False
        )

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate (..., frames, head_dim) by frame position."""
        frames, dim = x.shape[-2], self.freqs.shape[0] * 2
        angles = torch.arange(frames, device=x.device, dtype=self.freqs.dtype)[:, None] * self.freqs[None]
        angles = angles.repeat_interleave(2, dim=-1).to(x.dtype)
        head, rest = x[..., :dim], x[..., dim:]
        pairs = head.unflatten(-1, (-1, 2))
        rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
        return torch.cat([head * angles.cos() + rotated * angles.sin(), rest], dim=-1)


class RelativePositionBias(nn.Module):
    """A learned bias per head for each (bucketed) frame offset, T5-style."""

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 32) -> None:
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.relative_attention_bias = nn.Embedding(num_buckets, heads)

    def _bucket(self, offset: torch.Tensor) -> torch.Tensor:
        half = self.num_buckets // 2
        n = -offset
        bucket = (n < 0).long() * half
        n = n.abs()
        exact = half // 2
        far = exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(self.max_distance / exact) * (half - exact))
        far = far.long().clamp(max=half - 1)
        return bucket + torch.where(n < exact, n, far)

    def forward(self, frames: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(frames, device=device)
        buckets = self._bucket(pos[None, :] - pos[:, None])
        return self.relative_attention_bias(buckets).permute(2, 0, 1)  # (heads, frames, frames)


class TemporalAttention(nn.Module):
    """Self-attention across frames with rotary queries/keys and the relative-position bias."""

    def __init__(self, dim: int, heads: int, head_dim: int, rotary: RotaryEmbedding) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.scale = head_dim**-0.5
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])
        self.time_rel_pos_bias = RelativePositionBias(heads)
        self.rotary_emb = rotary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (sequences, frames, dim)."""

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (sequences, heads, frames, head_dim)

        q = self.rotary_emb.rotate(heads(self.to_q(x)) * self.scale)
        k = self.rotary_emb.rotate(heads(self.to_k(x)))
        scores = q @ k.transpose(-1, -2) + self.time_rel_pos_bias(x.shape[1], x.device).to(q.dtype)
        out = scores.softmax(dim=-1) @ heads(self.to_v(x))
        return self.to_out[0](out.transpose(1, 2).flatten(2))


class LaVieTransformerBlock(nn.Module):
    """Spatial self-attention, cross-attention to the text, temporal attention, GEGLU feed-forward (pre-norm)."""

    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: int, rotary: RotaryEmbedding) -> None:
        super().__init__()
        from diffusers.models.attention import FeedForward
        from diffusers.models.attention_processor import Attention

        self.attn1 = Attention(dim, heads=heads, dim_head=head_dim, bias=False)
        self.norm1 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, cross_attention_dim=context_dim, heads=heads, dim_head=head_dim, bias=False)
        self.norm2 = nn.LayerNorm(dim)
        self.attn_temp = TemporalAttention(dim, heads, head_dim, rotary)
        self.norm_temp = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), encoder_hidden_states=context) + x
        bf, tokens, c = x.shape
        seq = x.reshape(bf // frames, frames, tokens, c).transpose(1, 2).reshape(-1, frames, c)
        seq = self.attn_temp(self.norm_temp(seq)) + seq
        x = seq.reshape(bf // frames, tokens, frames, c).transpose(1, 2).reshape(bf, tokens, c)
        return self.ff(self.norm3(x)) + x


class Transformer3D(nn.Module):
    """GroupNorm, 1×1 projection in, transformer blocks over the H·W tokens of each frame, projection out."""

    def __init__(self, channels: int, heads: int, context_dim: int, groups: int, rotary: RotaryEmbedding) -> None:
        super().__init__()
        head_dim = channels // heads
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([LaVieTransformerBlock(channels, heads, head_dim, context_dim, rotary)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, video: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """video (B, C, F, H, W); context already repeated per frame ((B·F, L, D)). Normalised frame by frame."""
        b, c, frames, h, w = video.shape
        x = video.transpose(1, 2).reshape(b * frames, c, h, w)
        tokens = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b * frames, h * w, c)
        for block in self.transformer_blocks:
            tokens = block(tokens, context, frames)
        out = self.proj_out(tokens.reshape(b * frames, h, w, c).permute(0, 3, 1, 2)) + x
        return out.reshape(b, frames, c, h, w).transpose(1, 2)


def per_frame(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D layer to every frame of (B, C, F, H, W)."""
    b, c, f, h, w = x.shape
    out = layer(x.transpose(1, 2).reshape(b * f, c, h, w))
    return out.reshape(b, f, *out.shape[1:]).transpose(1, 2)


class ResnetBlock3D(nn.Module):
    """SD's residual block on video: GroupNorm over each sample's frames together, 3×3 convolutions per frame."""

    def __init__(self, cin: int, cout: int, temb: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = per_frame(self.conv1, F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None, None]
        h = per_frame(self.conv2, self.dropout(F.silu(self.norm2(h))))
        return (per_frame(self.conv_shortcut, x) if self.conv_shortcut is not None else x) + h


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(self.conv, x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(self.conv, F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest"))


class Level(nn.Module):
    """One down, mid or up block: resnets, optional transformers, optional resampler (the checkpoint's names)."""

    def __init__(
        self, resnets: list[nn.Module], attentions: list[nn.Module] | None, resampler: str, res: nn.Module | None
    ) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.has_attention = attentions is not None
        if attentions is not None:
            self.attentions = nn.ModuleList(attentions)
        self.resampler_name = resampler if res is not None else ""
        if res is not None:
            setattr(self, resampler, nn.ModuleList([res]))

    def layer(self, k: int, hidden: torch.Tensor, emb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Resnet ``k``, then its transformer where the level has them."""
        hidden = self.resnets[k](hidden, emb)
        return self.attentions[k](hidden, context) if self.has_attention else hidden

    def resample(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.resampler_name:
            return hidden
        resampler: nn.ModuleList = getattr(self, self.resampler_name)
        return resampler[0](hidden)


class LaVieUNet(nn.Module):
    """``forward(x (B, 4, F, H, W), timesteps (B,), context (B, 77, D))`` -> predicted noise, as LaVie's UNet."""

    def __init__(self, config: LaVieUNetConfig | None = None) -> None:
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        cfg = config or LaVieUNetConfig()
        self.config = cfg
        chans = cfg.block_out_channels
        temb = chans[0] * 4
        groups, eps = cfg.norm_num_groups, cfg.norm_eps
        rotary = RotaryEmbedding(cfg.rotary_dim)  # one table, registered under every temporal attention

        def resnet(cin: int, cout: int) -> nn.Module:
            return ResnetBlock3D(cin, cout, temb, groups, eps)

        def transformer(ch: int) -> nn.Module:
            return Transformer3D(ch, cfg.heads, cfg.cross_attention_dim, groups, rotary)

        self.conv_in = nn.Conv2d(4, chans[0], 3, padding=1)
        self.time_proj = Timesteps(chans[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(chans[0], temb)
        self.down_blocks = nn.ModuleList()
        skips = [chans[0]]
        cout = chans[0]
        for i, ch in enumerate(chans):
            cin, cout, last = cout, ch, i == len(chans) - 1
            layers = [resnet(cin if j == 0 else cout, cout) for j in range(cfg.layers_per_block)]
            attn = [transformer(cout) for _ in layers] if cfg.cross_attention[i] else None
            down = None if last else Downsample(cout)
            self.down_blocks.append(Level(layers, attn, "downsamplers", down))
            skips += [cout] * (cfg.layers_per_block + (0 if last else 1))
        self.mid_block = Level(
            [resnet(chans[-1], chans[-1]), resnet(chans[-1], chans[-1])], [transformer(chans[-1])], "", None
        )
        self.up_blocks = nn.ModuleList()
        prev = chans[-1]
        for i, ch in enumerate(reversed(chans)):
            last = i == len(chans) - 1
            layers = []
            for j in range(cfg.layers_per_block + 1):
                layers.append(resnet((prev if j == 0 else ch) + skips.pop(), ch))
            attn = [transformer(ch) for _ in layers] if cfg.cross_attention[len(chans) - 1 - i] else None
            up = None if last else Upsample(ch)
            self.up_blocks.append(Level(layers, attn, "upsamplers", up))
            prev = ch
        self.conv_norm_out = nn.GroupNorm(groups, chans[0], eps=eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(chans[0], 4, 3, padding=1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        frames = x.shape[2]
        dtype = self.conv_in.weight.dtype
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype))
        context = context.to(dtype).repeat_interleave(frames, dim=0)
        hidden = per_frame(self.conv_in, x.to(dtype))
        skips = [hidden]
        for level in self.down_blocks:
            assert isinstance(level, Level)
            for k in range(len(level.resnets)):
                hidden = level.layer(k, hidden, emb, context)
                skips.append(hidden)
            if level.resampler_name:
                hidden = level.resample(hidden)
                skips.append(hidden)
        hidden = self.mid_block.resnets[1](self.mid_block.layer(0, hidden, emb, context), emb)
        for level in self.up_blocks:
            assert isinstance(level, Level)
            for k in range(len(level.resnets)):
                hidden = level.layer(k, torch.cat([hidden, skips.pop()], dim=1), emb, context)
            hidden = level.resample(hidden)
        out = per_frame(self.conv_out, self.conv_act(self.conv_norm_out(hidden)))
        return out.to(x.dtype)
