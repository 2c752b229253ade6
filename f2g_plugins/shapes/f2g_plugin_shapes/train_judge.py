"""Train the judge: ``python -m f2g_plugin_shapes.train_judge`` (fixed seeds, CPU, ~15 min).

Cross-entropy over the nine ratings on rendered, degraded examples (see :mod:`f2g_plugin_shapes.judge_data`);
the expected rating under the predicted distribution is the reward, so uncertainty on blurry frames gives a
graded, not a saturated, score.
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
from f2g_plugin_shapes.judge_net import JudgeConfig, JudgeNet, grid_to_tiles
from f2g_plugin_shapes.model_io import JUDGE_FILE, WEIGHTS_DIR
from f2g_plugin_shapes.nets import tokenize


def batch(rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    prompts, grids, ratings = zip(*(example(rng) for _ in range(size)), strict=True)
    ids, pad = tokenize(list(prompts))
    return grid_to_tiles(list(grids)), ids, pad, torch.tensor(ratings) - 1


def save(net: JudgeNet, path: Path, info: dict[str, object]) -> None:
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(net.cfg.to_dict()), "info": json.dumps(info)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / JUDGE_FILE)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    net = JudgeNet(JudgeConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.01)
    val = [batch(random.Random(10_000 + i), 128) for i in range(2)]
    start = time.time()
    losses: list[float] = []

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    log(f"parameters: {sum(p.numel() for p in net.parameters()):,}")
    info: dict[str, object] = {"seed": args.seed, "batch": args.batch}
    for step in range(args.steps):
        tiles, ids, pad, target = batch(rng, args.batch)
        lr = 2e-3 * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        net.train()
        loss = F.cross_entropy(net(tiles, ids, pad), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 100 == 0 or step == args.steps - 1:
            net.eval()
            with torch.no_grad():
                vl, acc = [], []
                for vt, vi, vp, vy in val:
                    logits = net(vt, vi, vp)
                    vl.append(float(F.cross_entropy(logits, vy)))
                    acc.append(float(((logits.argmax(-1) == 8) == (vy == 8)).float().mean()))
            log(
                f"step {step} loss {np.mean(losses[-100:]):.4f} val {np.mean(vl):.4f} "
                f"val match-acc {np.mean(acc):.3f} elapsed {time.time() - start:.0f}s"
            )
            info.update(
                steps=step + 1,
                train_loss=float(np.mean(losses[-100:])),
                val_loss=float(np.mean(vl)),
                val_match_accuracy=float(np.mean(acc)),
                minutes=(time.time() - start) / 60,
            )
            save(net, args.out, info)
    log(f"done in {(time.time() - start) / 60:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
