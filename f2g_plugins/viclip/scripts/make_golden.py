"""Produce ViCLIP golden values with the *reference* ViCLIP code, as VBench ships and uses it.

The reference is ``vbench/third_party/ViCLIP`` from the ``vbench`` package on PyPI (the InternVid code, as VBench
runs it for its text–video dimensions). It needs an old stack (``pkg_resources``, timm, einops); we run it in the
same separate environment as the ImageReward reference::

    .venv-imagereward/bin/pip install --no-deps vbench==0.1.5 einops
    HF_HUB_OFFLINE=1 .venv-imagereward/bin/python f2g_plugins/viclip/scripts/make_golden.py

Only the reference's hard-coded ViT-L sizes are patched (its own classes, smaller); the weights are
``testing.seeded_state``; scoring follows VBench's ``overall_consistency`` step by step (``clip_transform(224)`` on
uint8 frames, ``encode_vision(test=True)``, ``encode_text``, cosine). Writes ``tests/golden_viclip.json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent.parent
# f2g_torch_utils' compat and checkpoints modules need only torch (and f2g_core.errors), so they import here from the
# checkout; a plugin package would pull in f2g's own (newer) dependencies, so each script runs its plugin's
# testing.py by path instead.
sys.path[:0] = [str(REPO), str(REPO / "f2g_plugins" / "torch_utils")]
SEED = 0


def main() -> None:
    from f2g_torch_utils.compat import ensure_torchvision  # before anything imports torchvision

    ensure_torchvision()
    import importlib.metadata as md

    import open_clip
    import torch

    t = types.SimpleNamespace(**runpy.run_path(str(PACKAGE / "f2g_plugin_viclip" / "testing.py")))

    # Import vbench's ViCLIP without vbench/__init__ (which imports every metric's dependencies). Its utils module
    # imports decord (a video reader we never call): stub it. Its tokenizer reads the BPE file from the cache dir.
    cache = Path(tempfile.mkdtemp(prefix="vbench-cache-"))
    (cache / "ViCLIP").mkdir()
    shutil.copy(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", cache / "ViCLIP")
    os.environ["VBENCH_CACHE_DIR"] = str(cache)
    decord = types.ModuleType("decord")
    decord.VideoReader = decord.cpu = None  # type: ignore[attr-defined]
    sys.modules["decord"] = decord
    vbench_dir = Path(importlib.util.find_spec("vbench").origin).parent  # type: ignore[union-attr, arg-type]
    package = types.ModuleType("vbench")
    package.__path__ = [str(vbench_dir)]
    sys.modules["vbench"] = package
    from vbench.third_party.ViCLIP import viclip as viclip_module
    from vbench.third_party.ViCLIP.viclip_text import CLIP_TEXT
    from vbench.third_party.ViCLIP.viclip_vision import VisionTransformer
    from vbench.utils import clip_transform

    v, x = t.TINY_VISION, t.TINY_TEXT

    def tiny_vision(**kwargs: Any) -> Any:
        return VisionTransformer(
            input_resolution=v["image_size"],
            patch_size=v["patch_size"],
            width=v["width"],
            layers=v["layers"],
            heads=v["heads"],
            output_dim=v["output_dim"],
            kernel_size=1,
            num_frames=v["num_frames"],
        ).eval()

    def tiny_text(**kwargs: Any) -> Any:
        return CLIP_TEXT(
            x["output_dim"], x["context_length"], x["vocab_size"], x["width"], x["heads"], x["layers"], 0
        ).eval()

    viclip_module.clip_joint_l14 = tiny_vision
    viclip_module.clip_text_l14 = tiny_text
    model = viclip_module.ViCLIP(tokenizer=None, pretrain=None).eval()
    state = t.seeded_state(model.state_dict(), SEED)
    model.load_state_dict(state, strict=True)

    videos = t.parity_videos()
    transform = clip_transform(224)
    golden: dict[str, Any] = {
        "seed": SEED,
        **t.describe(),
        "tokens": {},
        "scores": {},
        "reference": {"vbench": md.version("vbench"), "torch": torch.__version__, "open_clip": open_clip.__version__},
    }
    with torch.no_grad():
        features = []
        for video in videos:
            frames = transform(torch.from_numpy(video).permute(0, 3, 1, 2))  # VBench: (T, C, H, W) uint8
            feature = model.encode_vision(frames.unsqueeze(0), test=True).float()
            features.append(feature / feature.norm(dim=-1, keepdim=True))
        for prompt in t.PROMPTS:
            golden["tokens"][prompt] = model.text_encoder.tokenize(prompt, context_length=32)[0].tolist()
            text = model.encode_text(prompt).float()
            text = text / text.norm(dim=-1, keepdim=True)
            golden["scores"][prompt] = [float((f @ text.T)[0, 0]) for f in features]
    out = PACKAGE / "tests" / "golden_viclip.json"
    out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {out}")
    for prompt, scores in golden["scores"].items():
        print(f"{prompt[:40]!r}: {', '.join(f'{s:+.5f}' for s in scores)}")


if __name__ == "__main__":
    main()
