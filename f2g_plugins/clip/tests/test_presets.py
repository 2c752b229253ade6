"""The ``hps`` and ``pickscore`` presets and the plugin's registration, on tiny offline models."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import f2g_plugin_clip.plugin as clip_plugin
import numpy as np
import pytest
import torch
from f2g_plugin_clip import ClipReward, HPSReward, PickScoreReward
from f2g_plugin_clip.hps import LongestSideResize
from f2g_plugin_clip.testing import make_batch, random_frames, write_clip_tokenizer_files
from PIL import Image
from pydantic import ValidationError

from f2g_core.contracts import RewardContract
from f2g_core.errors import ComponentError

# ------------------------------------------------------------------------------------------------------- hps


def test_hps_defaults_are_the_published_model() -> None:
    opts = HPSReward.Options()
    assert (opts.model, opts.version, opts.scale, opts.checkpoint) == ("ViT-H-14", "v2.1", 1.0, None)
    with pytest.raises(ValidationError):
        HPSReward.Options(version="v3")


def test_hps_loads_published_checkpoint_layout(tiny_clip: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    """HPSv2 files nest the weights under ``state_dict``; the score is the plain cosine."""
    path = tmp_path / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": torch.load(tiny_checkpoint)}, path)
    reward = HPSReward(HPSReward.Options(model=tiny_clip, checkpoint=str(path), device="cpu"))
    scores = reward.score(make_batch(random_frames(3, 2)))
    assert len(scores) == 3 and all(-1.0 <= s <= 1.0 for s in scores)
    clip = ClipReward(ClipReward.Options(model=tiny_clip, pretrained=str(tiny_checkpoint), scale=1.0, device="cpu"))
    square = random_frames(2, 2, h=32, w=32)  # same pixels both ways when no resizing is needed
    assert reward.score(make_batch(square)) == pytest.approx(clip.score(make_batch(square)), abs=1e-5)


def test_hps_missing_checkpoint(tiny_clip: str, tmp_path: Path) -> None:
    reward = HPSReward(HPSReward.Options(model=tiny_clip, checkpoint=str(tmp_path / "HPS.pt")))
    with pytest.raises(ComponentError, match=r"HPS\.pt.*does not exist"):
        reward.load()


def test_hps_offline_download_fails_with_a_hint(tiny_clip: str) -> None:
    with pytest.raises(ComponentError, match=r"set options.checkpoint"):
        HPSReward(HPSReward.Options(model=tiny_clip)).load()


def test_longest_side_resize_pads_to_a_centred_square() -> None:
    transform = LongestSideResize(32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    wide = Image.fromarray(np.full((16, 64, 3), 255, dtype=np.uint8))
    out = transform(wide)
    assert out.shape == (3, 32, 32)
    rows = out[0, :, 16]
    assert torch.all(rows[:12] == 0) and torch.all(rows[20:] == 0)
    assert torch.allclose(rows[12:20], torch.ones(8), atol=1e-5)
    tall_at_size = Image.fromarray(np.full((32, 16, 3), 255, dtype=np.uint8))
    assert transform(tall_at_size).shape == (3, 32, 32)  # HPSv2 itself would leave this 32×16


# ------------------------------------------------------------------------------------------------- pickscore


@pytest.fixture(scope="module")
def tiny_pickscore(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny transformers CLIPModel folder and a CLIP processor folder (tokenizer rebuilt from open_clip's BPE)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    root = tmp_path_factory.mktemp("pickscore")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(root / "model")
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer_files(root / "tok"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(root / "processor")
    return root / "model", root / "processor"


def pick(model: Path, processor: Path, **options: Any) -> PickScoreReward:
    return PickScoreReward(PickScoreReward.Options(model=str(model), processor=str(processor), device="cpu", **options))


def test_pickscore_defaults() -> None:
    opts = PickScoreReward.Options()
    assert opts.model == "yuvalkirstain/PickScore_v1"
    assert opts.processor == "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


def test_pickscore_scores_match_transformers_clip(tiny_pickscore: tuple[Path, Path]) -> None:
    from transformers import CLIPModel, CLIPProcessor

    model_dir, processor_dir = tiny_pickscore
    batch = make_batch(random_frames(3, 2))
    scores = pick(model_dir, processor_dir).score(batch)
    model, processor = CLIPModel.from_pretrained(model_dir), CLIPProcessor.from_pretrained(processor_dir)
    for i in range(3):
        inputs = processor(text=[batch.prompt], images=batch.pil_frames(i), return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = model(**inputs).logits_per_image  # PickScore: exp(logit_scale) · cos
        assert scores[i] == pytest.approx(logits.mean().item(), abs=1e-4)


def test_pickscore_batch_invariance(tiny_pickscore: tuple[Path, Path]) -> None:
    reward = pick(*tiny_pickscore)
    frames = random_frames(3, 2, seed=5)
    full = reward.score(make_batch(frames))
    assert reward.score(make_batch(frames[[2, 1]])) == pytest.approx([full[2], full[1]], abs=1e-4)


def test_pickscore_missing_folder(tiny_pickscore: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"does not exist"):
        pick(tmp_path / "absent", tiny_pickscore[1]).load()


def test_pickscore_checkpoint_lacking_weights(tiny_pickscore: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    model_dir = tmp_path / "partial"
    shutil.copytree(tiny_pickscore[0], model_dir)
    weights = load_file(model_dir / "model.safetensors")
    del weights["text_projection.weight"]
    save_file(weights, model_dir / "model.safetensors")
    with pytest.raises(ComponentError, match=r"lacks 1 weights.*text_projection"):
        pick(model_dir, tiny_pickscore[1]).load()


# ---------------------------------------------------------------------------------------------------- plugin


def test_plugin_registers_the_three_rewards() -> None:
    from f2g_plugin_clip import plugin

    registered: list[tuple[type, tuple[str, ...]]] = []
    plugin.register_rewards(lambda cls, aliases=(): registered.append((cls, tuple(aliases))))
    assert {cls.name for cls, _ in registered} == {"clip", "pickscore", "hps"}
    assert all(cls.Options.model_config.get("extra") == "forbid" for cls, _ in registered)


def test_importing_the_plugin_imports_no_model_library() -> None:
    code = (
        "import sys, f2g_plugin_clip.plugin; "
        "print(sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_entry_point_is_declared() -> None:
    from importlib.metadata import entry_points

    points = {ep.name: ep.value for ep in entry_points(group="f2g")}
    assert points.get("clip") == "f2g_plugin_clip.plugin"


def test_nan_not_zero_for_unscorable_candidates(tiny_clip: str) -> None:
    reward = HPSReward(HPSReward.Options(model=tiny_clip, checkpoint=None))
    frames = random_frames(2, 1)
    frames[:] = np.inf
    reward._parts = object()  # type: ignore[assignment]  # no model needed: nothing is finite
    assert all(math.isnan(s) for s in reward.score(make_batch(frames)))


class TestPickScoreContract(RewardContract):
    plugin = clip_plugin
    component_id = "pickscore"

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_pickscore: tuple[Path, Path]) -> Iterator[PickScoreReward]:
        reward = pick(*tiny_pickscore)
        reward.load()
        yield reward
        reward.close()
