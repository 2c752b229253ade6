"""Train the shapes text-to-video model: ``python -m f2g_plugin_shapes.train`` (fixed seeds, CPU, ~40 min).

Stage 1 trains the per-frame autoencoder on rendered frames and fixes the latent normalisation; stage 2 trains the
text encoder and the denoiser to predict clean latents x0 (x0 prediction converges far faster than epsilon
prediction at this size) with 10% prompt dropout for classifier-free guidance, keeping an EMA of the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from f2g_plugin_shapes.data import video_batch
from f2g_plugin_shapes.nets import ModelConfig, VideoModel, alpha_bar, shifted_time, tokenize

WEIGHTS_DIR = Path(__file__).parent / "weights"
MODEL_FILE = "shapes_t2v.safetensors"


def to_tensor(videos: np.ndarray) -> torch.Tensor:
    """uint8 (B, F, H, W, 3) → float (B, F, 3, H, W) in [0, 1]."""
    return torch.from_numpy(videos).permute(0, 1, 4, 2, 3).float() / 255.0


def save_model(model: VideoModel, path: Path, info: dict[str, object]) -> None:
    """Save all weights as float16 safetensors with the config and training info as metadata."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(model.cfg.to_dict()), "info": json.dumps(info)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)


def fit_autoencoder(model: VideoModel, videos: int, rng: random.Random, log: Callable[[str], None]) -> float:
    """Fit the PCA frame autoencoder on the frames of ``videos`` rendered videos; returns the reconstruction MSE."""
    _, batch = video_batch(rng, videos)
    frames = to_tensor(batch).flatten(0, 1)
    model.autoencoder.fit(frames)
    with torch.no_grad():
        _, held_out = video_batch(rng, 64)
        test = to_tensor(held_out).flatten(0, 1)
        mse = float(F.mse_loss(model.autoencoder.decode(model.autoencoder.encode(test)), test))
    log(f"autoencoder fitted on {len(frames)} frames: held-out reconstruction MSE {mse:.5f}")
    return mse


def train_diffusion(
    model: VideoModel,
    steps: int,
    batch: int,
    rng: random.Random,
    out: Path,
    log: Callable[[str], None],
    info: dict[str, object],
    *,
    lr_max: float = 1e-3,
    schedule_steps: int | None = None,
    shift: float = 1.0,
    stage: str = "diffusion",
) -> VideoModel:
    """Train text encoder + denoiser for ``steps`` steps; returns (and saves every 250 steps) the EMA model.

    ``schedule_steps`` is the length of the cosine learning-rate schedule (default ``steps``); ``shift`` divides
    the SNR of the sampled noise levels by shift² (see :func:`f2g_plugin_shapes.nets.shifted_time`).
    """
    total = schedule_steps or steps
    params = list(model.text.parameters()) + list(model.denoiser.parameters())
    opt = torch.optim.AdamW(params, lr=lr_max, weight_decay=0.01)
    ema = VideoModel(model.cfg)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    ema_decay = 0.995
    losses: list[float] = []
    start = time.time()
    for step in range(steps):
        prompts, videos = video_batch(rng, batch)
        prompts = [p if rng.random() >= 0.1 else "" for p in prompts]  # condition dropout for CFG
        with torch.no_grad():
            frames = to_tensor(videos)
            x0 = model.autoencoder.encode(frames.flatten(0, 1)).view(batch, frames.shape[1], -1, 8, 8)
        # stage 1 draws float32 times, stage 2 float64 ones (as the shipped weights were trained)
        u = torch.rand(batch, dtype=torch.float32 if shift == 1.0 else torch.float64)
        t = shifted_time(u, shift).float()
        ab = alpha_bar(t).float()[:, None, None, None, None]
        noise = torch.randn_like(x0)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        ids, pad = tokenize(prompts)
        pred = model.denoiser(xt, t, model.text(ids, pad), pad)
        loss = F.mse_loss(pred, x0)
        warm = min(1.0, (step + 1) / 100)
        lr = lr_max * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
            for target, source in zip(ema.buffers(), model.buffers(), strict=True):
                target.copy_(source)
        losses.append(float(loss.detach()))
        if step % 50 == 0 or step == steps - 1:
            log(f"{stage} step {step} loss {np.mean(losses[-50:]):.5f} lr {lr:.2e} elapsed {time.time() - start:.0f}s")
        if (step + 1) % 250 == 0 or step == steps - 1:
            info.update({f"{stage}_steps": step + 1, f"{stage}_loss_last50": float(np.mean(losses[-50:])),
                         f"{stage}_minutes": (time.time() - start) / 60})  # fmt: skip
            save_model(ema, out, info)
    return ema


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ae-videos", type=int, default=400, help="videos whose frames fit the autoencoder")
    parser.add_argument("--steps", type=int, default=1500, help="stage 1 steps (plain cosine noise levels)")
    parser.add_argument("--stage1-schedule", type=int, default=3000, help="length of stage 1's learning-rate cosine")
    parser.add_argument("--shift-steps", type=int, default=2400, help="stage 2 steps (noise levels shifted)")
    parser.add_argument("--shift", type=float, default=6.0, help="stage 2 SNR shift (and the sampling default)")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / MODEL_FILE)
    parser.add_argument("--resume-stage2", type=Path, default=None, help="skip stage 1: start from these weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    cfg = ModelConfig()
    model = VideoModel(cfg)

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    log(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    t0 = time.time()
    info: dict[str, object]
    if args.resume_stage2 is None:
        ae_loss = fit_autoencoder(model, args.ae_videos, rng, log)
        info = {"seed": args.seed, "ae_videos": args.ae_videos, "ae_mse": ae_loss, "batch": args.batch,
                "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
        model = train_diffusion(model, args.steps, args.batch, rng, args.out, log, info,
                                schedule_steps=args.stage1_schedule)  # fmt: skip
        model.requires_grad_(True)
    else:
        from f2g_plugin_shapes.model_io import load_state, read_metadata

        load_state(model, args.resume_stage2)
        model.requires_grad_(True)
        model.train()
        info = dict(read_metadata(args.resume_stage2)["info"])
    # stage 2: more training where the layout of the video is decided (low SNR), fresh seeds and optimiser
    torch.manual_seed(args.seed + 1)
    rng = random.Random(args.seed + 1)
    info.update(schedule_shift=args.shift)
    train_diffusion(model, args.shift_steps, args.batch, rng, args.out, log, info, lr_max=5e-4, shift=args.shift,
                    stage="shifted")  # fmt: skip
    log(f"done: total {(time.time() - t0) / 60:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
