"""Helpers that build tiny, offline CLIP-family models for tests (ours and downstream plugins').

Nothing here downloads: the open_clip config is registered at run time and the tokenizer files are rebuilt from the
BPE vocabulary that ships inside open_clip.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

TINY_OPEN_CLIP: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""A 2-layer ViT/text transformer at 32×32 pixels: builds in well under a second."""


def register_tiny_open_clip(
    folder: str | Path, name: str = "f2g-tiny-clip", config: dict[str, Any] | None = None
) -> str:
    """Write ``config`` (default :data:`TINY_OPEN_CLIP`) as ``<name>.json`` and register it with open_clip."""
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    import open_clip

    path = Path(folder) / f"{name}.json"
    path.write_text(json.dumps(config or TINY_OPEN_CLIP))
    open_clip.add_model_config(path)
    return name


def write_clip_tokenizer_files(folder: str | Path) -> Path:
    """Write the CLIP BPE tokenizer as ``vocab.json`` + ``merges.txt`` (transformers layout) into ``folder``.

    The ids equal open_clip's SimpleTokenizer's: both derive from ``bpe_simple_vocab_16e6.txt.gz`` the same way.
    """
    from f2g_torch_utils.compat import ensure_torchvision

    ensure_torchvision()
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe) as stream:
        merges = stream.read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(p) for p in pairs] + ["<|startoftext|>", "<|endoftext|>"]
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in pairs) + "\n")
    return out


def make_batch(frames: Any, prompt: str = "a red car on a road") -> Any:
    """A RewardBatch over (N, F, H, W, 3) float frames, key frames spread over a 16-frame video."""
    import numpy as np

    from f2g_core.interfaces import RewardBatch, StepInfo

    f = frames.shape[1]
    indices = tuple(int(i) for i in np.linspace(0, 15, f).round())
    return RewardBatch(prompt, frames.astype(np.float32), indices, 16, StepInfo(index=0, num_steps=50, timestep=999.0))


def random_frames(n: int, f: int, h: int = 40, w: int = 56, seed: int = 0) -> Any:
    """(N, F, H, W, 3) uniform random frames in [0, 1]: non-square on purpose, so resizing and cropping run."""
    import numpy as np

    return np.random.default_rng(seed).random((n, f, h, w, 3), dtype=np.float32)


def solid(color: tuple[float, float, float], h: int = 32, w: int = 32) -> Any:
    """One (H, W, 3) frame of a single colour."""
    import numpy as np

    return np.broadcast_to(np.asarray(color, dtype=np.float32), (h, w, 3)).copy()


# ------------------------------------------------------------------------------------------ HPS golden values
# Shared with scripts/make_hps_golden.py, which loads this file by path in the reference environment: keep the
# module-level imports to the standard library (f2g_torch_utils.checkpoints, which the script puts on sys.path, is one).

HPS_PROMPTS: list[str] = [
    "a red car on a road",
    "A painting of TWO cats sitting on a sofa, in the style of Van Gogh!",
]


def seeded_state(reference: Any, seed: int = 0) -> dict[str, Any]:
    """Random weights for every floating tensor of ``reference``, each from its own key-derived seed, so two
    implementations holding the same keys get identical values (:func:`f2g_torch_utils.checkpoints.seeded_state`, whose
    default scales keep activations O(1)); ``logit_scale`` is log(100), as trained CLIPs end up."""
    from f2g_torch_utils.checkpoints import default_init
    from f2g_torch_utils.checkpoints import seeded_state as seeded

    def init(key: str, like: Any, noise: Any) -> Any:
        return noise.new_full(noise.shape, 4.6052) if key == "logit_scale" else default_init(key, like, noise)

    return seeded(reference, seed, init)


def hps_parity_images(seed: int = 0) -> list[Any]:
    """PIL images of several shapes (wide, tall, smaller than the model's input): the resize-and-pad paths."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(48, 64), (64, 40), (30, 100), (20, 20), (90, 70)]
    images = []
    for i, (h, w) in enumerate(sizes):
        if i % 2 == 0:
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        else:
            y, x = np.mgrid[0:h, 0:w]
            pixels = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (3 * x + y) % 256], -1).astype(np.uint8)
        images.append(Image.fromarray(pixels, mode="RGB"))
    return images
