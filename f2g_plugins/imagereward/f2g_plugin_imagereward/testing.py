"""Tiny ImageReward fixtures shared by the tests and the golden-value script.

This module imports only torch, numpy and PIL, and from f2g only :mod:`f2g_torch_utils.checkpoints` (standard library at
import), so that ``scripts/make_golden.py`` can load it by path inside the reference package's own (old)
environment: both sides then build *identical* seeded weights, tokenizer files and images from the same code.

Sizes: a 2-block ViT 64 wide at 224 pixels (the reference hard-codes 224) and a 2-layer BERT 64 wide with
cross-attention — the same architecture as the real 447 M-parameter model, about 0.4 M parameters.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

TINY_VISION: dict[str, int] = {"image_size": 224, "patch_size": 16, "width": 64, "depth": 2, "heads": 2}

_WORDS = (  # noqa: SIM905 - a word list reads best as text
    "a an the of on in at with and to is are two three red blue green yellow black white car cat cats dog "
    "dogs photo painting road sofa sitting running astronaut horse riding moon city night sunset beach "
    "tree trees small large big cute happy old man woman playing park style van gogh under over next"
).split()
TINY_VOCAB: list[str] = list(
    dict.fromkeys(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + list(".,!?'-:;")
        + [chr(c) for c in range(ord("a"), ord("z") + 1)]
        + [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
        + ["##s", "##ing", "##ed"]
        + _WORDS
    )
)
"""A WordPiece vocabulary: BERT's special tokens, every letter (so any word tokenizes), and some whole words."""

TINY_MED_CONFIG: dict[str, Any] = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 64,
    "initializer_range": 0.02,
    "intermediate_size": 128,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 40,
    "model_type": "bert",
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": len(TINY_VOCAB) + 2,  # + [DEC] and [ENC], which BLIP adds to the tokenizer
    "encoder_width": TINY_VISION["width"],
    "add_cross_attention": True,
}

PROMPTS: list[str] = [
    "a red car on a road",
    "A photo of TWO cats, sitting on a sofa!",
    "an astronaut riding a horse on the moon at night, van gogh style, with small trees and a big yellow moon "
    "over the old city under a green sky next to the beach at sunset",  # longer than 35 tokens: truncation
    "zebra quokka",  # out-of-vocabulary words: WordPiece splits them into letters
]


def write_tokenizer(folder: str | Path) -> Path:
    """Write :data:`TINY_VOCAB` as a BERT ``vocab.txt`` (loadable with ``BertTokenizer.from_pretrained``)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return out


def write_med_config(path: str | Path, config: Mapping[str, Any] | None = None) -> Path:
    file = Path(path)
    file.write_text(json.dumps(dict(config or TINY_MED_CONFIG), indent=2))
    return file


def seeded_state(reference: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for every floating tensor of ``reference``, each from its own key-derived seed.

    Per-key seeds (:func:`f2g_torch_utils.checkpoints.seeded_state`) make a tensor's values independent of which other
    keys a model has, so the reference model (which also holds unused projections) and our port get identical
    values for every shared key. Scales keep activations O(1) through the depth (1/sqrt(fan-in) for matrices), so
    scores differ visibly between inputs; BLIP names its ViT's embeddings ``pos_embed`` and ``cls_token``.
    """
    from f2g_torch_utils.checkpoints import seeded_state as seeded

    return seeded(reference, seed, _init)


def _init(key: str, like: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    if key.endswith("bias"):
        return 0.1 * noise
    if like.ndim == 1:  # LayerNorm scales
        return 1.0 + 0.1 * noise
    if "embeddings" in key or key.endswith(("pos_embed", "cls_token")):
        return 0.5 * noise
    return noise / int(np.prod(like.shape[1:])) ** 0.5


def parity_images(seed: int = 0) -> list[Image.Image]:
    """Deterministic test images of several sizes (resize and crop paths): noise, gradients and blocks."""
    rng = np.random.default_rng(seed)
    sizes = [(224, 224), (96, 64), (180, 300), (300, 180), (48, 64)]
    images = []
    for i, (h, w) in enumerate(sizes):
        if i % 2 == 0:
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        else:
            y, x = np.mgrid[0:h, 0:w]
            pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
            pixels = pixels.astype(np.uint8)
        images.append(Image.fromarray(pixels, mode="RGB"))
    return images


def batch_frames(seed: int = 1) -> np.ndarray:
    """(3, 2, 48, 64, 3) uint8 frames: 3 candidates × 2 key frames, scored as one RewardBatch in the tests."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(3, 2, 6, 8, 3), dtype=np.uint8)
    return base.repeat(8, axis=2).repeat(8, axis=3)  # 8×8 blocks: structure the model can tell apart


def image_digest(images: list[Image.Image]) -> str:
    """A checksum of the images' pixels, stored with the golden values to catch drifting inputs."""
    crc = 0
    for image in images:
        crc = zlib.crc32(np.asarray(image).tobytes(), crc)
    return f"{crc:08x}"
