"""GPU scale: a Wan2.1-1.3B-sized transformer and the Wan VAE with random weights, at 480×832 and 81 frames, bf16.

Nothing is downloaded: both models are built from the published configuration of Wan-AI/Wan2.1-T2V-1.3B-Diffusers
(30 layers, 12 heads of 128, FFN 8960, text dim 4096; the Wan VAE defaults) with random weights, which cost the same
as the real ones. Text embeddings are random (1, 512, 4096) tensors (the UMT5 encoder runs once per video and is
left out). Measured, through f2g's own loop (``f2g_core.sampling``) wherever a run is timed:

1. seconds per denoiser call at batch 1, 2, 5 and 10 (each sample with classifier-free guidance: 2 rows);
2. wall time of one video: unguided, Free²Guide (n = 5, 6 guided steps) and best-of-5, with ``--steps`` steps
   (default 10, so the whole script stays under 8 minutes on one large GPU; the call counts scale as documented);
3. decoding the key frames only (the causal VAE decodes the prefix of latent frames they need) vs the whole video.

    python benchmarks/gpu_scale.py              # needs CUDA; exits with a message otherwise
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
        self.text = torch.randn(1, 512 if text_dim == 4096 else 16, text_dim, device=self._device, dtype=self._dtype)

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
        rows = torch.cat([latents, latents]).to(self._dtype)
        text = torch.cat([cond.expand(n, -1, -1), torch.zeros_like(cond).expand(n, -1, -1)])
        t = torch.full((2 * n,), level.timestep, device=latents.device)
        with torch.no_grad():
            out = self.transformer(rows, t, text, return_dict=False)[0].float()
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
    with torch.device(device):
        transformer = WanTransformer3DModel(**(SMOKE if args.smoke else WAN_1_3B)).to(dtype).eval()
        vae = AutoencoderKLWan(**(VAE_SMOKE if args.smoke else {})).to(dtype).eval()
    text_dim = (SMOKE if args.smoke else WAN_1_3B)["text_dim"]
    backbone = RandomWan(transformer, vae, frames, height, width, int(text_dim))
    params = sum(p.numel() for p in transformer.parameters()) / 1e9
    print(f"device {device}, {dtype}, transformer {params:.2f} B parameters, {frames} frames at {height}×{width}")
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
        "unguided": {"method": "none", "options": {}},
        "Free²Guide n=5, 6 guided steps": {"method": "free2guide", "options": {"num_candidates": 5}},
        "best-of-5": {"method": "best-of-n", "options": {"num_candidates": 5}},
    }
    print(f"\n| run ({args.steps} steps) | model calls | seconds |\n|---|---|---|")
    for name, guidance in runs.items():
        guidance = {**guidance, "chunk_size": 5}
        if guidance["method"] == "free2guide":
            guidance["options"] = {**guidance["options"], "num_guided_steps": min(6, args.steps - 1)}
        config = {
            "backbone": {"type": "gaussian-mixture"},
            "rewards": [{"type": "mean-brightness"}],
            "sampler": {"num_steps": args.steps, "eta": 1.0},
            "guidance": {**guidance, "key_frames": [0, frames // 3, 2 * frames // 3, frames - 1]},
        }
        pipeline = Pipeline.from_config(config, registry=registry)
        pipeline.backbone = backbone  # the random Wan instead of the config's placeholder
        start = time.perf_counter()
        result = pipeline.generate("a benchmark", seed=0)
        _sync()
        print(f"| {name} | {result.trace.totals()['model_calls']} | {time.perf_counter() - start:.1f} |", flush=True)

    x0 = torch.randn(1, *backbone.latent_shape(), device=device)
    print("\n| decode | latent frames | seconds |\n|---|---|---|")
    for indices in ([0], [0, frames // 8, frames // 4], [0, frames // 4, frames // 2]):
        seconds = _seconds(lambda i=indices: backbone.decode(x0, i))
        print(f"| key frames {indices} (prefix) | {_latent_prefix(max(indices))} | {seconds:.2f} |")
    seconds = _seconds(lambda: backbone.decode(x0, range(frames)))
    print(f"| full video | {backbone.latent_shape()[1]} | {seconds:.2f} |")
    return 0


@hookimpl
def _register_reward(register: Any) -> None:
    register(Mean)


if __name__ == "__main__":
    sys.exit(main())
