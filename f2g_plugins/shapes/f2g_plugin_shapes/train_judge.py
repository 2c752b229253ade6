"""Train the judge's perception network: ``python -m f2g_plugin_shapes.train_judge`` (fixed seeds, CPU, ~10 min).

Supervised on rendered, degraded key-frame grids with the renderer's scene as labels (see
:mod:`f2g_plugin_shapes.judge_data`): per colour, presence (binary cross-entropy), shape and motion (cross-entropy,
only where present) and key-frame centres (smooth L1, only where present). Under heavy blur the right answer is
uncertain, so the predicted probabilities — and with them the judge's rating — are graded, not saturated.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from f2g_plugin_shapes.judge_data import example
from f2g_plugin_shapes.judge_net import NUM_MOTIONS, NUM_SHAPES, JudgeConfig, JudgeNet, grid_to_tiles
from f2g_plugin_shapes.model_io import JUDGE_FILE, WEIGHTS_DIR


def batch(rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    grids, targets = zip(*(example(rng) for _ in range(size)), strict=True)
    return grid_to_tiles(list(grids)), torch.from_numpy(np.stack(targets))


def losses(net: JudgeNet, tiles: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    raw = net(tiles)
    present = target[..., 0]
    mask = present > 0.5
    s, m = 1 + NUM_SHAPES, 1 + NUM_SHAPES + NUM_MOTIONS
    presence = F.binary_cross_entropy_with_logits(raw[..., 0], present)
    shape = F.cross_entropy(raw[..., 1:s][mask], target[..., 1][mask].long())
    motion = F.cross_entropy(raw[..., s:m][mask], target[..., 2][mask].long())
    centre = F.smooth_l1_loss(raw[..., m:][mask], target[..., 3:][mask], beta=0.05)
    total = presence + shape + motion + 4 * centre
    with torch.no_grad():
        stats = {
            "presence_acc": float(((raw[..., 0] > 0) == mask).float().mean()),
            "shape_acc": float((raw[..., 1:s][mask].argmax(-1) == target[..., 1][mask].long()).float().mean()),
            "motion_acc": float((raw[..., s:m][mask].argmax(-1) == target[..., 2][mask].long()).float().mean()),
            "centre_px": float((raw[..., m:][mask] - target[..., 3:][mask]).abs().mean() * 32),
        }
    return total, stats


def save(net: JudgeNet, path: Path, info: dict[str, object]) -> None:
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(net.cfg.to_dict()), "info": json.dumps(info)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / JUDGE_FILE)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    net = JudgeNet(JudgeConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    val = batch(random.Random(10_000), 256)
    start = time.time()
    history: list[float] = []

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    log(f"parameters: {sum(p.numel() for p in net.parameters()):,}")
    info: dict[str, object] = {"seed": args.seed, "batch": args.batch}
    for step in range(args.steps):
        tiles, target = batch(rng, args.batch)
        lr = 1e-3 * min(1.0, (step + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        net.train()
        loss, _ = losses(net, tiles, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        history.append(float(loss.detach()))
        if step % 100 == 0 or step == args.steps - 1:
            net.eval()
            with torch.no_grad():
                val_loss, stats = losses(net, *val)
            log(
                f"step {step} loss {np.mean(history[-100:]):.4f} val {float(val_loss):.4f} "
                + " ".join(f"{k} {v:.3f}" for k, v in stats.items())
                + f" elapsed {time.time() - start:.0f}s"
            )
            info.update(steps=step + 1, train_loss=float(np.mean(history[-100:])), val_loss=float(val_loss),
                        minutes=(time.time() - start) / 60, **{f"val_{k}": v for k, v in stats.items()})  # fmt: skip
            save(net, args.out, info)
    log(f"done in {(time.time() - start) / 60:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
