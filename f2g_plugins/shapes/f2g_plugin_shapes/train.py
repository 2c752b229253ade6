"""Train the shapes text-to-video model: ``python -m f2g_plugin_shapes.train`` (fixed seeds, 2 CPU threads, ~50 min).

First the per-frame autoencoder is fitted in closed form on rendered frames (seconds); then the text encoder and
the denoiser learn to predict clean latents x0 (x0 prediction converges far faster than epsilon prediction at this
size) on videos rendered on the fly, with 10% prompt dropout for classifier-free guidance, keeping an EMA of the
weights. Half of the noise levels are drawn with the SNR shift that sampling uses, half without.
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
    lr_max: float,
    shifts: tuple[float, ...],
    ema_decay: float,
) -> VideoModel:
    """Train text encoder + denoiser for ``steps`` steps; returns (and saves every 250 steps) the EMA model.

    Each example's noise level is drawn on the cosine schedule with its SNR divided by shift², the shift drawn
    from ``shifts`` (see :func:`f2g_plugin_shapes.nets.shifted_time`): the shifted levels train the high-noise
    steps where the layout is decided, the plain ones the low-noise steps that make edges crisp.
    """
    params = list(model.text.parameters()) + list(model.denoiser.parameters())
    opt = torch.optim.AdamW(params, lr=lr_max, weight_decay=0.01)
    ema = VideoModel(model.cfg)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    losses: list[float] = []
    start = time.time()
    for step in range(steps):
        prompts, videos = video_batch(rng, batch)
        prompts = [p if rng.random() >= 0.1 else "" for p in prompts]  # condition dropout for CFG
        with torch.no_grad():
            frames = to_tensor(videos)
            x0 = model.autoencoder.encode(frames.flatten(0, 1)).view(batch, frames.shape[1], -1, 8, 8)
        u = torch.rand(batch, dtype=torch.float64)
        t = torch.stack([shifted_time(ui, rng.choice(shifts)) for ui in u]).float()
        ab = alpha_bar(t).float()[:, None, None, None, None]
        noise = torch.randn_like(x0)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        ids, pad = tokenize(prompts)
        pred = model.denoiser(xt, t, model.text(ids, pad), pad)
        loss = F.mse_loss(pred, x0)
        warm = min(1.0, (step + 1) / 100)
        lr = lr_max * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
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
            log(f"step {step} loss {np.mean(losses[-50:]):.5f} lr {lr:.2e} elapsed {time.time() - start:.0f}s")
        if (step + 1) % 250 == 0 or step == steps - 1:
            info.update(diffusion_steps=step + 1, diffusion_loss_last50=float(np.mean(losses[-50:])),
                        diffusion_minutes=(time.time() - start) / 60)  # fmt: skip
            save_model(ema, out, info)
    return ema


def model_config(overrides: list[str]) -> ModelConfig:
    """The default :class:`ModelConfig` with integer ``field=value`` overrides."""
    fields = ModelConfig().to_dict()
    values: dict[str, int] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or key not in fields or not raw.isdigit():
            raise SystemExit(f"--model expects field=INTEGER with a field among {sorted(fields)}, got {item!r}")
        values[key] = int(raw)
    return ModelConfig(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ae-videos", type=int, default=400, help="videos whose frames fit the autoencoder")
    parser.add_argument("--steps", type=int, default=11500, help="training steps (the shipped weights: 11,500)")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay to a tenth)")
    parser.add_argument("--shift", type=float, default=6.0, help="SNR shift of half the noise levels and of sampling")
    parser.add_argument("--ema", type=float, default=0.999, help="EMA decay of the saved weights")
    parser.add_argument("--model", nargs="*", default=[], metavar="FIELD=VALUE", help="model size overrides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / MODEL_FILE)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = VideoModel(model_config(args.model))

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    parameters = sum(p.numel() for p in model.parameters())
    log(f"parameters: {parameters:,}")
    t0 = time.time()
    ae_loss = fit_autoencoder(model, args.ae_videos, rng, log)
    info: dict[str, object] = {"seed": args.seed, "ae_videos": args.ae_videos, "ae_mse": ae_loss,
                               "batch": args.batch, "parameters": parameters, "schedule_shift": args.shift,
                               "threads": args.threads}  # fmt: skip
    train_diffusion(model, args.steps, args.batch, rng, args.out, log, info, lr_max=args.lr,
                    shifts=(1.0, args.shift), ema_decay=args.ema)  # fmt: skip
    log(f"done: total {(time.time() - t0) / 60:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
