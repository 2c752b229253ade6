"""Produce the ImageReward golden values by running the *reference* ``image-reward`` package.

Run it with the reference package's own interpreter (it needs transformers ≤ 4.55, timm 0.6.13, …; see
``f2g_plugins/imagereward/README.md``)::

    .venv-imagereward/bin/python f2g_plugins/imagereward/scripts/make_golden.py

It builds a shrunken ImageReward *with the reference code* (the reference ViT, BERT and MLP classes at tiny
sizes; only the hard-coded sizes are patched), fills it with the seeded weights of ``testing.seeded_state``,
saves them, loads them back through the reference loader ``ImageReward.load(path, med_config=...)``, scores fixed
prompts and images with the reference ``score`` methods, and writes ``tests/golden_imagereward.json``. The test
``tests/test_parity.py`` rebuilds the same weights and inputs and checks our port against these numbers.
"""

from __future__ import annotations

import json
import runpy
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
FULL_MED_CONFIG = {  # BLIP's published med_config.json, as ImageReward ships it
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": 30524,
    "encoder_width": 768,
    "add_cross_attention": True,
}


def main() -> None:
    # torch only: makes the CUDA torchvision wheel importable next to the CPU torch
    from f2g_torch_utils.compat import ensure_torchvision  # before anything imports torchvision

    ensure_torchvision()
    import importlib.metadata as md

    import ImageReward as RM
    import ImageReward.models.BLIP.blip as blip_module
    import ImageReward.models.BLIP.blip_pretrain as pretrain_module
    import numpy as np
    import torch
    import transformers
    from ImageReward.models.BLIP.vit import VisionTransformer

    ir_module: Any = sys.modules["ImageReward.ImageReward"]  # the package re-exports a class of the same name

    t = types.SimpleNamespace(**runpy.run_path(str(PACKAGE / "f2g_plugin_imagereward" / "testing.py")))
    work = Path(tempfile.mkdtemp(prefix="ir-golden-"))
    vocab_dir = t.write_tokenizer(work / "tokenizer")
    med_config = t.write_med_config(work / "med_config.json")
    v = t.TINY_VISION
    original_from_pretrained = blip_module.BertTokenizer.from_pretrained

    # Shrink the sizes the reference hard-codes; every class and forward pass stays the reference's own.
    def tiny_vit(*args: Any, **kwargs: Any) -> tuple[Any, int]:
        vit = VisionTransformer(
            img_size=v["image_size"],
            patch_size=v["patch_size"],
            embed_dim=v["width"],
            depth=v["depth"],
            num_heads=v["heads"],
        )
        return vit, v["width"]

    # The full-size layout first (built once on the CPU, ~2 GB for a few seconds): key names and shapes of the
    # real model, so a test can check that our port at its default sizes has the official checkpoint's layout.
    full_med_config = work / "full_med_config.json"
    full_med_config.write_text(json.dumps(FULL_MED_CONFIG))
    blip_module.BertTokenizer.from_pretrained = lambda name, *a, **k: original_from_pretrained(str(vocab_dir))
    full = ir_module.ImageReward(med_config=str(full_med_config), device="cpu")
    layout = {k: list(v.shape) for k, v in full.state_dict().items()}
    del full

    pretrain_module.create_vit = tiny_vit
    original_mlp = ir_module.MLP
    ir_module.MLP = lambda input_size: original_mlp(t.TINY_MED_CONFIG["hidden_size"])

    template = ir_module.ImageReward(med_config=str(med_config), device="cpu")
    state = t.seeded_state(template.state_dict(), SEED)
    weights = work / "tiny_imagereward.pt"
    torch.save(state, weights)

    model = RM.load(str(weights), device="cpu", med_config=str(med_config))  # the reference loader (strict=False)
    loaded = model.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state), "weights not loaded"
    model.eval()

    images = t.parity_images()
    frames = t.batch_frames()
    from PIL import Image

    batch_images = [Image.fromarray(f) for f in frames.reshape(-1, *frames.shape[2:])]
    golden: dict = {
        "seed": SEED,
        "tiny_vision": v,
        "tiny_med_config": t.TINY_MED_CONFIG,
        "prompts": t.PROMPTS,
        "images_digest": t.image_digest(images),
        "batch_digest": t.image_digest(batch_images),
        "token_ids": {},
        "scores": {},
        "single_image_scores": {},
        "batch_scores": {},
        "full_size_layout": layout,
        "reference": {
            "image-reward": md.version("image-reward"),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pillow": md.version("pillow"),
        },
    }
    with torch.no_grad():
        for prompt in t.PROMPTS:
            ids = model.blip.tokenizer(prompt, padding="max_length", truncation=True, max_length=35)["input_ids"]
            golden["token_ids"][prompt] = ids
            golden["scores"][prompt] = [float(s) for s in model.score(prompt, images)]  # inference_rank path
            golden["single_image_scores"][prompt] = float(model.score(prompt, images[0]))  # single-image path
            golden["batch_scores"][prompt] = [float(s) for s in model.score(prompt, batch_images)]
    out = PACKAGE / "tests" / "golden_imagereward.json"
    out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {out}")
    for prompt, scores in golden["scores"].items():
        print(f"{prompt[:40]!r}: {', '.join(f'{s:+.5f}' for s in scores)}")


if __name__ == "__main__":
    main()
