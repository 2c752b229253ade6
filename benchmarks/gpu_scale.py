"""GPU scale: a Wan2.1-1.3B- (or 14B-) sized transformer and the Wan VAE with random weights, 480×832×81, bf16.

Nothing is downloaded: both models are built from the published configuration of Wan-AI/Wan2.1-T2V-1.3B-Diffusers
(30 layers, 12 heads of 128, FFN 8960, text dim 4096; the Wan VAE defaults) with random weights, which cost the same
as the real ones. Text embeddings are random (1, 512, 4096) tensors (the UMT5 encoder runs once per video and is
left out). Measured, through f2g's own loop (``f2g_core.sampling``) wherever a run is timed:

1. seconds per denoiser call at batch 1, 2, 5 and 10 (each sample with classifier-free guidance: 2 rows);
2. wall time of one video: unguided, Free²Guide (n = 5, 6 guided steps) and best-of-5, with ``--steps`` steps
   (default 10, so the whole script stays under 8 minutes on one large GPU; the call counts scale as documented);
   with the peak accelerator memory of each run;
3. a 4-step distilled schedule without CFG (one row per candidate, as StepDistill-CfgDistill / Lightning run):
   unguided vs best-of-8;
4. decoding the key frames only (the causal VAE decodes the prefix of latent frames they need) vs the whole video;
5. with ``--cache-drafts``: draft-then-commit (n = 4 drafts of the whole ``--steps`` path, best one committed) with
   the drafts run plainly vs under diffusers' FirstBlockCache (``draft_mode: backbone``; its state follows the rows
   through f2g_plugin_diffusers.caches), the commit always without it: seconds, calls, blocks skipped, and whether
   both runs committed the same draft.

``--size 14b`` builds the 14B architecture (40 blocks of width 5120); ``--int8`` quantises the transformer's
weights with torchao (int8 weight-only); ``--compile`` compiles its repeated blocks (regional torch.compile). One
default run (1.3B) stays under 8 minutes on one large GPU; run the variants one at a time.

    python benchmarks/gpu_scale.py              # needs CUDA; exits with a message otherwise
    python benchmarks/gpu_scale.py --size 14b --int8 --compile
    python benchmarks/gpu_scale.py --cache-drafts     # + cached drafts on/off (about 3 minutes more at 1.3B)
    python benchmarks/gpu_scale.py --smoke      # a tiny configuration on the CPU: checks the code path only
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import types
from collections.abc import Sequence
from typing import Any

import numpy as np

from f2g_core.hookspecs import hookimpl
from f2g_core.interfaces import Backbone, Level, Reward, RewardBatch, Schedule

WAN_1_3B = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
WAN_14B = {**WAN_1_3B, "num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}
"""Wan2.1-T2V-14B: 40 heads of 128 (width 5120), FFN 13824, 40 blocks."""
SMOKE = {**WAN_1_3B, "num_attention_heads": 2, "attention_head_dim": 16, "text_dim": 32, "ffn_dim": 64, "num_layers": 2}
VAE_SMOKE = {"base_dim": 8, "dim_mult": [1, 2, 2, 2], "num_res_blocks": 1}


class RandomWan(Backbone):
    """A Wan2.1-shaped flow-matching backbone with random weights (the benchmark's model, not a plugin)."""

    name = "random-wan"

    def __init__(self, transformer: Any, vae: Any, frames: int, height: int, width: int, text_dim: int) -> None:
        import torch

        super().__init__()
        self.transformer, self.vae = transformer, vae
        self.frames, self.height, self.width = frames, height, width
        self.cfg = True
        """False for a CFG-distilled model: one row per candidate."""
        self.text = torch.randn(1, 512 if text_dim == 4096 else 16, text_dim, device=self._device, dtype=self._dtype)
        self.cache: Any = None
        """A :class:`f2g_plugin_diffusers.caches.RowCache` for cached drafts (``--cache-drafts``), else None."""

    @property
    def row_state(self) -> bool:
        return self.cache is not None

    def follow_rows(self, ancestors: np.ndarray) -> None:
        if self.cache is not None:
            self.cache.follow(ancestors)

    def draft_mode(self) -> Any:
        return None if self.cache is None else self.cache.drafting()

    def _call(self, rows: Any, t: Any, text: Any, width: int, level: Level) -> Any:
        """One transformer call, under the draft cache's row state when it is on."""
        from contextlib import nullcontext

        import torch

        cached = nullcontext() if self.cache is None else self.cache.call(rows.shape[0] // width, width, level.timestep)
        with torch.no_grad(), cached:
            return self.transformer(rows, t, text, return_dict=False)[0]

    @property
    def _device(self) -> Any:
        return next(self.transformer.parameters()).device

    @property
    def _dtype(self) -> Any:
        return next(self.transformer.parameters()).dtype

    @property
    def device(self) -> Any:
        return self._device

    @property
    def num_frames(self) -> int:
        return self.frames

    def latent_shape(self) -> tuple[int, ...]:
        return (16, (self.frames - 1) // 4 + 1, self.height // 8, self.width // 8)

    def schedule(self, num_steps: int) -> Schedule:
        shift = 3.0  # Wan's flow shift at 480p
        raw = np.linspace(1.0, 0.0, num_steps + 1)[:-1]
        sigmas = [shift * s / (1 + (shift - 1) * s) for s in raw] + [0.0]
        return Schedule(
            timesteps=tuple(1000.0 * s for s in sigmas[:-1]),
            alphas=tuple(1.0 - s for s in sigmas),
            sigmas=tuple(sigmas),
        )

    def encode_prompt(self, prompt: str, negative_prompt: str | None, cfg_scale: float | None) -> Any:
        return self.text

    def denoise(self, latents: Any, level: Level, cond: Any) -> Any:
        import torch

        n = latents.shape[0]
        if not self.cfg:
            t = torch.full((n,), level.timestep, device=latents.device)
            velocity = self._call(latents.to(self._dtype), t, cond.expand(n, -1, -1), 1, level)
            return latents - level.sigma * velocity.float()
        rows = torch.cat([latents, latents]).to(self._dtype)
        text = torch.cat([cond.expand(n, -1, -1), torch.zeros_like(cond).expand(n, -1, -1)])
        t = torch.full((2 * n,), level.timestep, device=latents.device)
        out = self._call(rows, t, text, 2, level).float()
        velocity = out[n:] + 5.0 * (out[:n] - out[n:])
        return latents - level.sigma * velocity

    def _decode_latents(self, latents: Any) -> Any:
        import torch

        with torch.no_grad():
            return self.vae.decode(latents.to(self.vae.dtype), return_dict=False)[0]

    def decode(self, x0: Any, frame_indices: Sequence[int]) -> np.ndarray:
        """The causal VAE decodes the prefix of latent frames the last key frame needs, then picks the frames."""
        needed = _latent_prefix(max(frame_indices))
        video = self._decode_latents(x0[:, :, :needed])
        picked = video[:, :, list(frame_indices)].float()
        return (picked.clamp(-1, 1) / 2 + 0.5).permute(0, 2, 3, 4, 1).cpu().numpy()


def _latent_prefix(frame: int) -> int:
    """Latent frames the causal VAE needs for video frames 0..frame (latent 0 → frame 0, latent j → 4j−3..4j)."""
    return 1 if frame == 0 else (frame + 3) // 4 + 1


class Mean(Reward):
    """Mean brightness: a free reward, so the timings are the model's."""

    name = "mean-brightness"

    def score(self, batch: RewardBatch) -> list[float]:
        return [float(v) for v in batch.frames.mean(axis=(1, 2, 3, 4))]


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _seconds(fn: Any, repeats: int = 1) -> float:
    fn()
    _sync()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU (checks the code path only)")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps of the timed videos (default 10)")
    parser.add_argument("--size", choices=("1.3b", "14b"), default="1.3b", help="Wan architecture (default 1.3b)")
    parser.add_argument("--int8", action="store_true", help="torchao int8 weight-only transformer")
    parser.add_argument("--compile", action="store_true", help="regional torch.compile of the transformer blocks")
    parser.add_argument("--cache-drafts", action="store_true", help="also time drafts with and without FirstBlockCache")
    parser.add_argument("--threshold", type=float, default=0.1, help="FirstBlockCache threshold of the cached drafts")
    args = parser.parse_args(argv)
    import torch
    from f2g_torch_utils.compat import ensure_torchvision

    if not args.smoke and not torch.cuda.is_available():
        print("gpu_scale: no CUDA device here; this benchmark needs one (or run --smoke for a CPU check).")
        return 0
    ensure_torchvision()
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from f2g_core.pipeline import Pipeline
    from f2g_core.testing import isolated_plugins

    device = torch.device("cpu" if args.smoke else "cuda")
    dtype = torch.float32 if args.smoke else torch.bfloat16
    frames, height, width = (9, 32, 32) if args.smoke else (81, 480, 832)
    torch.manual_seed(0)
    architecture = SMOKE if args.smoke else WAN_14B if args.size == "14b" else WAN_1_3B
    with torch.device(device):
        transformer = WanTransformer3DModel(**architecture).to(dtype).eval()
        vae = AutoencoderKLWan(**(VAE_SMOKE if args.smoke else {})).to(dtype).eval()
    if args.int8:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(transformer, Int8WeightOnlyConfig())
    if args.compile:
        transformer.compile_repeated_blocks(dynamic=True)
    text_dim = architecture["text_dim"]
    backbone = RandomWan(transformer, vae, frames, height, width, int(text_dim))
    params = sum(p.numel() for p in transformer.parameters()) / 1e9
    levers = ", ".join(name for name, on in (("int8", args.int8), ("compiled", args.compile)) if on) or "plain"
    print(f"device {device}, {dtype} ({levers}), transformer {params:.2f} B parameters")
    print(f"{frames} frames at {height}×{width}")
    print(f"latents {backbone.latent_shape()}\n")

    level = backbone.schedule(args.steps).level(0)
    print("| batch (samples, ×2 rows for CFG) | seconds per denoiser call | seconds per sample |\n|---|---|---|")
    for batch in (1, 2, 5, 10):
        x = torch.randn(batch, *backbone.latent_shape(), device=device)
        try:
            seconds = _seconds(lambda x=x: backbone.denoise(x, level, backbone.text))
        except torch.cuda.OutOfMemoryError:
            print(f"| {batch} | out of memory | |")
            torch.cuda.empty_cache()
            continue
        print(f"| {batch} | {seconds:.3f} | {seconds / batch:.3f} |", flush=True)

    registry = isolated_plugins([("bench", types.SimpleNamespace(register_rewards=_register_reward))]).registry
    runs = {
        f"unguided, {args.steps} steps": ({"method": "none", "options": {}}, args.steps, True),
        f"Free²Guide n=5, 6 guided steps, {args.steps} steps": (
            {"method": "free2guide", "options": {"num_candidates": 5, "num_guided_steps": min(6, args.steps - 1)}},
            args.steps,
            True,
        ),
        f"best-of-5, {args.steps} steps": ({"method": "best-of-n", "options": {"num_candidates": 5}}, args.steps, True),
        "4-step distill (no CFG), unguided": ({"method": "none", "options": {}}, 4, False),
        "4-step distill (no CFG), best-of-8": ({"method": "best-of-n", "options": {"num_candidates": 8}}, 4, False),
    }
    print("\n| run | model calls | seconds | peak memory (GiB) |\n|---|---|---|---|")
    for name, (guidance, steps, cfg) in runs.items():
        config = {
            "backbone": {"type": "gaussian-mixture"},
            "rewards": [{"type": "mean-brightness"}],
            "sampler": {"num_steps": steps, "eta": 1.0},
            "guidance": {**guidance, "chunk_size": 5, "key_frames": [0, frames // 3, 2 * frames // 3, frames - 1]},
        }
        pipeline = Pipeline.from_config(config, registry=registry)
        pipeline.backbone, backbone.cfg = backbone, cfg  # the random Wan instead of the config's placeholder
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = pipeline.generate("a benchmark", seed=0)
        _sync()
        seconds = time.perf_counter() - start
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if torch.cuda.is_available() else "-"
        print(f"| {name} | {result.trace.totals()['model_calls']} | {seconds:.1f} | {peak} |", flush=True)
    backbone.cfg = True

    x0 = torch.randn(1, *backbone.latent_shape(), device=device)
    print("\n| decode | latent frames | seconds |\n|---|---|---|")
    for indices in ([0], [0, frames // 8, frames // 4], [0, frames // 4, frames // 2]):
        seconds = _seconds(lambda i=indices: backbone.decode(x0, i))
        print(f"| key frames {indices} (prefix) | {_latent_prefix(max(indices))} | {seconds:.2f} |")
    seconds = _seconds(lambda: backbone.decode(x0, range(frames)))
    print(f"| full video | {backbone.latent_shape()[1]} | {seconds:.2f} |")
    if args.cache_drafts:
        _cache_drafts(backbone, registry, args.steps, args.threshold, frames)
    return 0


def _cache_drafts(backbone: RandomWan, registry: Any, steps: int, threshold: float, frames: int) -> None:
    """Draft-then-commit with plain drafts vs drafts under FirstBlockCache (the commit runs without it)."""
    from diffusers.hooks import FirstBlockCacheConfig
    from f2g_plugin_diffusers.caches import RowCache
    from f2g_plugin_diffusers.options import CacheOptions

    from f2g_core.pipeline import Pipeline

    options = CacheOptions(type="first-block", threshold=threshold, use="drafts")
    draft = {"num_candidates": 4, "num_commits": 1, "draft_steps": steps}
    head = f"drafts (n = 4, {steps} steps each, 1 commit)"
    print(f"\n| {head} | model calls | seconds | rows computed in full | committed |")
    print("|---|---|---|---|---|")
    for name, mode in (("plain drafts", "few-step"), (f"FirstBlockCache drafts (threshold {threshold})", "backbone")):
        backbone.cache = None
        if mode == "backbone":
            backbone.cache = RowCache([backbone.transformer], options, FirstBlockCacheConfig(threshold=threshold))
        config = {
            "backbone": {"type": "gaussian-mixture"},
            "rewards": [{"type": "mean-brightness"}],
            "sampler": {"num_steps": steps, "eta": 1.0},
            "guidance": {"method": "draft", "options": {**draft, "draft_mode": mode}, "key_frames": [0, frames - 1]},
        }
        pipeline = Pipeline.from_config(config, registry=registry)
        pipeline.backbone = backbone
        start = time.perf_counter()
        result = pipeline.generate("a benchmark", seed=0)
        _sync()
        seconds = time.perf_counter() - start
        full = "-" if backbone.cache is None else f"{backbone.cache.full_calls} of {backbone.cache.calls}"
        chosen = result.trace.steps[0].selected if result.trace.steps else None
        print(
            f"| {name} | {result.trace.totals()['model_calls']} | {seconds:.1f} | {full} | draft {chosen} |", flush=True
        )
    backbone.cache = None


@hookimpl
def _register_reward(register: Any) -> None:
    register(Mean)


if __name__ == "__main__":
    sys.exit(main())
