"""Wall time of one Free²Guide step vs the number of candidates n: batched through the denoiser vs one by one.

A guided step costs n denoiser calls (each with classifier-free guidance, so a batch of 2n) plus decoding the key
frames of n candidates. The official Free²Guide code runs candidates one by one; f2g batches them in chunks of
``guidance.chunk_size``. This measures both on a tiny random model of a diffusers family (no download), on the
CPU and, when present, on CUDA, with the same code path the sampler uses (``f2g_core.sampling.denoise_chunked``
and the backbone's key-frame ``decode``).

    python benchmarks/candidate_batching.py                       # Wan, 64×64, 17 frames, n = 1 2 4 8
    python benchmarks/candidate_batching.py --backbone cogvideox --n 1 4 16 --devices cuda

Tiny models have few FLOPs per call, so batching mostly removes per-call overhead (Python, kernel launches):
the GPU figures show the effect that matters for real models, whose per-call work is far larger.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import f2g_plugin_diffusers.plugin as diffusers_plugin
import torch
from f2g_plugin_diffusers import tiny
from f2g_torch_utils.compat import ensure_torchvision

from f2g_core.sampling import default_key_frames, denoise_chunked
from f2g_core.testing import isolated_plugins

SIZES: dict[str, dict[str, Any]] = {
    # The largest tiny configs that keep every family's rules (4k+1 / 8k+1 frames, size multiples).
    "wan": {"height": 64, "width": 64, "num_frames": 17, "max_sequence_length": 16},
    "cogvideox": {"height": 64, "width": 64, "num_frames": 17, "max_sequence_length": 16},
    "ltx-video": {"height": 64, "width": 64, "num_frames": 17, "max_sequence_length": 16},
    "hunyuan-video": {"height": 64, "width": 64, "num_frames": 17, "max_sequence_length": 16},
    # The tiny UNets cost more per pixel than the tiny transformers: 32×32 keeps a CPU run to a minute or two.
    "modelscope": {"height": 32, "width": 32, "num_frames": 16},
    "videocrafter2-diffusers": {"height": 32, "width": 32, "num_frames": 16},
    "animatediff": {"height": 32, "width": 32, "num_frames": 16},
}


BUILDER_ARGS: dict[str, dict[str, Any]] = {"wan": {"width_mult": 8}}
"""Wider tiny denoisers where the builder allows it, so a call does some real work."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_seconds(fn: Any, device: torch.device, repeats: int) -> float:
    """Best of ``repeats`` timed runs: on a shared machine the minimum is the least disturbed measurement."""
    times = []
    for i in range(repeats + 1):  # the first run warms up kernels and caches
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return min(times)


def run(name: str, device: str, ns: list[int], repeats: int, dtype: str) -> list[dict[str, Any]]:
    """Denoise n candidates batched vs one by one (interleaved, so background load hits both alike), then the
    cost of decoding their key frames vs whole videos."""
    registry = isolated_plugins([("f2g-plugin-diffusers", diffusers_plugin)]).registry
    cls: Any = registry.get("backbone", name, "backbone").cls
    options = cls.Options(model="tiny", device=device, dtype=dtype, **SIZES[name])
    pipe = getattr(tiny, cls.tiny_builder)(**BUILDER_ARGS.get(name, {}))
    backbone: Any = cls(options, pipeline=pipe)
    backbone.load()
    cond = backbone.encode_prompt("a red car driving along the beach at sunset", "blurry", None)
    level = backbone.schedule(50).level(1)
    keys = default_key_frames(backbone.num_frames)
    rows = []
    for n in ns:
        latents = torch.randn((n, *backbone.latent_shape()), generator=torch.Generator().manual_seed(0))
        latents = latents.to(backbone.device, backbone.dtype)
        batched: list[float] = []
        single: list[float] = []
        for _ in range(repeats):
            for chunk, times in ((None, batched), (1, single)):
                step = functools.partial(denoise_chunked, backbone, latents, level, cond, chunk)
                times.append(_best_seconds(step, backbone.device, 1))
        row = {"n": n, "batched": min(batched), "one_by_one": min(single)}
        rows.append(row)
        print(
            f"{name:14s} {device:5s} n={n:3d}  denoise batched {row['batched'] * 1e3:8.1f} ms  "
            f"one-by-one {row['one_by_one'] * 1e3:8.1f} ms  speed-up {row['one_by_one'] / row['batched']:5.2f}x",
            flush=True,
        )
    x0 = torch.randn((1, *backbone.latent_shape()), generator=torch.Generator().manual_seed(1)).to(backbone.device)
    key_time = _best_seconds(lambda: backbone.decode(x0, keys), backbone.device, repeats)
    full_time = _best_seconds(lambda: backbone.decode_video(x0), backbone.device, repeats)
    line = (
        f"{name:14s} {device:5s} decode per candidate: key frames {keys} {key_time * 1e3:8.1f} ms, "
        f"whole video ({backbone.num_frames} frames) {full_time * 1e3:8.1f} ms"
    )
    if hasattr(backbone.options, "decode_mode"):  # causal video VAEs: the approximate preview
        backbone.options.decode_mode = "window"
        window_time = _best_seconds(lambda: backbone.decode(x0, keys), backbone.device, repeats)
        backbone.options.decode_mode = "exact"
        line += f", key frames in 'window' mode {window_time * 1e3:8.1f} ms"
    print(line, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="wan", choices=sorted(SIZES))
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8], help="candidate counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "auto"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    ensure_torchvision()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices {devices}")
    for device in devices:
        run(args.backbone, device, args.n, args.repeats, args.dtype)


if __name__ == "__main__":
    main()
