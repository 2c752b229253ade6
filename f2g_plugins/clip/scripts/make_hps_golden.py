"""Produce HPS golden values by running the *reference* HPSv2 code (the ``hpsv2`` package's own open_clip fork).

Run it in a separate environment with the reference (same one as the ImageReward reference, see
``f2g_plugins/imagereward/README.md``)::

    .venv-imagereward/bin/pip install --no-deps hpsv2==1.2.0
    HF_HUB_OFFLINE=1 .venv-imagereward/bin/python f2g_plugins/clip/scripts/make_hps_golden.py

It registers the tiny open_clip config of ``testing.TINY_OPEN_CLIP`` with the fork, builds the model and its
evaluation transform exactly as ``hpsv2.img_score`` does (``create_model_and_transforms(..., output_dict=True)``,
``preprocess_val``, ``get_tokenizer``), loads ``testing.seeded_state`` weights from a ``{"state_dict": ...}`` file as
``img_score`` loads a checkpoint, and scores ``image_features @ text_features.T``. The fork's wheel lacks the BPE
vocabulary its tokenizer opens, so the script copies it from open_clip. Writes ``tests/golden_hps.json``.
"""

from __future__ import annotations

import importlib.util
import json
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
NAME = "f2g-tiny-clip"


def main() -> None:
    from f2g_torch_utils.compat import ensure_torchvision  # before anything imports torchvision

    ensure_torchvision()
    import importlib.metadata as md

    import open_clip
    import torch

    t = types.SimpleNamespace(**runpy.run_path(str(PACKAGE / "f2g_plugin_clip" / "testing.py")))

    # Import the fork without hpsv2/__init__ (which pulls in benchmark-only dependencies).
    root = Path(importlib.util.find_spec("hpsv2").origin).parent  # type: ignore[union-attr, arg-type]
    bpe = root / "src" / "open_clip" / "bpe_simple_vocab_16e6.txt.gz"
    if not bpe.exists():
        shutil.copy(Path(open_clip.__file__).parent / bpe.name, bpe)
    package = types.ModuleType("hpsv2")
    package.__path__ = [str(root)]
    sys.modules["hpsv2"] = package
    from hpsv2.src.open_clip import add_model_config, create_model_and_transforms, get_tokenizer

    work = Path(tempfile.mkdtemp(prefix="hps-golden-"))
    (work / f"{NAME}.json").write_text(json.dumps(t.TINY_OPEN_CLIP))
    add_model_config(work / f"{NAME}.json")
    model, _, preprocess_val = create_model_and_transforms(
        NAME,
        None,
        precision="fp32",
        device="cpu",
        jit=False,
        force_quick_gelu=False,
        force_custom_text=False,
        force_patch_dropout=False,
        force_image_size=None,
        pretrained_image=False,
        image_mean=None,
        image_std=None,
        light_augmentation=True,
        aug_cfg={},
        output_dict=True,
        with_score_predictor=False,
        with_region_predictor=False,
    )
    state = t.seeded_state(model.state_dict(), SEED)
    torch.save({"state_dict": state}, work / "HPS_tiny.pt")
    checkpoint = torch.load(work / "HPS_tiny.pt", map_location="cpu")
    model.load_state_dict(checkpoint["state_dict"])  # strict, as img_score does
    model.eval()
    tokenizer = get_tokenizer(NAME)

    golden: dict[str, Any] = {
        "seed": SEED,
        "config": t.TINY_OPEN_CLIP,
        "prompts": t.HPS_PROMPTS,
        "keys": sorted(state),
        "tokens": {},
        "scores": {},
        "reference": {"hpsv2": md.version("hpsv2"), "torch": torch.__version__, "pillow": md.version("pillow")},
    }
    images = t.hps_parity_images()
    with torch.no_grad():
        for prompt in t.HPS_PROMPTS:
            text = tokenizer([prompt])
            golden["tokens"][prompt] = text[0].tolist()
            scores = []
            for image in images:
                outputs = model(preprocess_val(image).unsqueeze(0), text)
                logits = outputs["image_features"] @ outputs["text_features"].T
                scores.append(float(torch.diagonal(logits)[0]))
            golden["scores"][prompt] = scores
    out = PACKAGE / "tests" / "golden_hps.json"
    out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {out}")
    for prompt, scores in golden["scores"].items():
        print(f"{prompt[:40]!r}: {', '.join(f'{s:+.5f}' for s in scores)}")


if __name__ == "__main__":
    main()
