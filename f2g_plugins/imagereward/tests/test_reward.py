"""The ``imagereward`` reward: full-size layout, batching, options, and errors on bad checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from f2g_plugin_imagereward import ImageRewardReward
from f2g_plugin_imagereward.blip import TextConfig, VisionConfig
from f2g_plugin_imagereward.model import IGNORED_KEYS, ImageRewardModel
from f2g_plugin_imagereward.testing import TINY_VISION
from pydantic import ValidationError

from f2g_core.errors import ComponentError
from f2g_core.interfaces import RewardBatch, StepInfo

GOLDEN = json.loads((Path(__file__).parent / "golden_imagereward.json").read_text())


def tiny(files: Any, **options: Any) -> ImageRewardReward:
    base = {
        "checkpoint": str(files.checkpoint),
        "med_config": str(files.med_config),
        "tokenizer": str(files.tokenizer),
        "vision_heads": TINY_VISION["heads"],
        "device": "cpu",
    }
    return ImageRewardReward(ImageRewardReward.Options(**{**base, **options}))


def batch(frames: np.ndarray, prompt: str = "a red car on a road") -> RewardBatch:
    indices = tuple(range(frames.shape[1]))
    return RewardBatch(prompt, frames.astype(np.float32), indices, 16, StepInfo(index=0, num_steps=50, timestep=999.0))


def frames(n: int, f: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, f, 40, 56, 3), dtype=np.float32)


# -------------------------------------------------------------------------------------------------- layout


def test_default_sizes_have_the_official_checkpoint_layout() -> None:
    """Our module at its default sizes (ViT-L/16, BERT-base) has every key and shape of the reference model,
    less only the parts scoring never reads — so the official ImageReward.pt loads strictly."""
    with torch.device("meta"):
        model = ImageRewardModel(VisionConfig(), TextConfig(encoder_width=VisionConfig().width))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    reference = {k: v for k, v in GOLDEN["full_size_layout"].items() if not IGNORED_KEYS.search(k)}
    assert ours == reference
    assert sum(math.prod(v) for v in GOLDEN["full_size_layout"].values()) > 440_000_000


# --------------------------------------------------------------------------------------------------- options


def test_options_defaults_are_the_official_model() -> None:
    opts = ImageRewardReward.Options()
    assert (opts.checkpoint, opts.tokenizer, opts.med_config, opts.aggregate) == (
        "THUDM/ImageReward",
        "bert-base-uncased",
        None,
        "mean",
    )


@pytest.mark.parametrize(
    "bad", [{"aggregate": "max"}, {"device": "tpu"}, {"batch_size": 0}, {"vision_heads": 0}, {"x": 1}]
)
def test_options_reject_invalid_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ImageRewardReward.Options(**bad)


# --------------------------------------------------------------------------------------------------- scoring


def test_shapes_and_one_forward(tiny_files: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reward = tiny(tiny_files)
    reward.load()
    assert reward._model is not None
    seen: list[int] = []
    forward = reward._model.forward
    monkeypatch.setattr(reward._model, "forward", lambda pixels, *a: seen.append(len(pixels)) or forward(pixels, *a))
    scores = reward.score(batch(frames(3, 4)))
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    assert seen == [12]
    assert reward.usage() == {"calls": 1.0, "frames": 12.0}


def test_batch_size_splits_without_changing_scores(tiny_files: Any) -> None:
    data = batch(frames(3, 2))
    whole = tiny(tiny_files).score(data)
    assert tiny(tiny_files, batch_size=4).score(data) == pytest.approx(whole, abs=1e-5)


def test_deterministic_and_invariant_to_batch_composition(tiny_files: Any) -> None:
    data = frames(4, 2, seed=7)
    full = tiny(tiny_files).score(batch(data))
    assert tiny(tiny_files).score(batch(data)) == pytest.approx(full, abs=1e-6)
    assert tiny(tiny_files).score(batch(data[[3, 1]])) == pytest.approx([full[3], full[1]], abs=1e-4)
    assert len({round(s, 5) for s in full}) == 4


def test_prompt_changes_the_score(tiny_files: Any) -> None:
    reward = tiny(tiny_files)
    data = frames(2, 1)
    assert reward.score(batch(data, "a red car")) != pytest.approx(reward.score(batch(data, "two cats")), abs=1e-3)


@pytest.mark.parametrize(("how", "reduce"), [("mean", np.mean), ("min", np.min), ("sum", np.sum)])
def test_aggregation(tiny_files: Any, how: str, reduce: Any) -> None:
    reward = tiny(tiny_files, aggregate=how)
    data = batch(frames(2, 3))
    per_frame = reward.frame_scores(data)
    assert reward.score(data) == pytest.approx(list(reduce(per_frame, axis=1)), abs=1e-9)


def test_non_finite_candidate_is_nan(tiny_files: Any) -> None:
    reward = tiny(tiny_files)
    data = frames(3, 2)
    clean = reward.score(batch(data))
    data[0, 1, 0, 0, 2] = np.inf
    scores = reward.score(batch(data))
    assert math.isnan(scores[0]) and scores[1:] == pytest.approx(clean[1:], abs=1e-4)


# ------------------------------------------------------------------------------------------------ checkpoints


def test_missing_checkpoint_file(tiny_files: Any, tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"ImageReward\.pt.*does not exist"):
        tiny(tiny_files, checkpoint=str(tmp_path / "ImageReward.pt")).load()


def test_checkpoint_lacking_keys(tiny_files: Any, tmp_path: Path) -> None:
    state = torch.load(tiny_files.checkpoint)
    del state["mlp.layers.7.weight"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(ComponentError, match=r"1 missing keys \(e\.g\. mlp\.layers\.7\.weight\)"):
        tiny(tiny_files, checkpoint=str(tmp_path / "partial.pt")).load()


def test_checkpoint_without_vision_encoder(tiny_files: Any, tmp_path: Path) -> None:
    state = {k: v for k, v in torch.load(tiny_files.checkpoint).items() if "visual_encoder" not in k}
    torch.save(state, tmp_path / "text_only.pt")
    with pytest.raises(ComponentError, match=r"lacks the vision encoder"):
        tiny(tiny_files, checkpoint=str(tmp_path / "text_only.pt")).load()


def test_official_extras_are_accepted(tiny_files: Any, tmp_path: Path) -> None:
    """The official file also holds BLIP's contrastive projections and a position-id buffer: ignored."""
    state = torch.load(tiny_files.checkpoint)
    state["blip.vision_proj.weight"] = torch.zeros(256, TINY_VISION["width"])
    state["blip.text_proj.bias"] = torch.zeros(256)
    state["blip.text_encoder.embeddings.position_ids"] = torch.arange(40)[None]
    torch.save(state, tmp_path / "official_layout.pt")
    data = batch(frames(2, 1))
    expected = tiny(tiny_files).score(data)
    assert tiny(tiny_files, checkpoint=str(tmp_path / "official_layout.pt")).score(data) == pytest.approx(expected)


def test_med_config_that_does_not_fit(tiny_files: Any, tmp_path: Path) -> None:
    config = json.loads(tiny_files.med_config.read_text())
    config["intermediate_size"] = 256
    (tmp_path / "med.json").write_text(json.dumps(config))
    with pytest.raises(ComponentError, match=r"mis-shaped.*check med_config"):
        tiny(tiny_files, med_config=str(tmp_path / "med.json")).load()


def test_missing_med_config(tiny_files: Any, tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"med_config file .* does not exist"):
        tiny(tiny_files, med_config=str(tmp_path / "med.json")).load()


def test_hub_download_offline_says_what_to_do(tiny_files: Any) -> None:
    with pytest.raises(ComponentError, match=r"set options.checkpoint"):
        tiny(tiny_files, checkpoint="THUDM/ImageReward").load()


def test_safetensors_checkpoint(tiny_files: Any, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in torch.load(tiny_files.checkpoint).items()}, tmp_path / "ir.safetensors")
    data = batch(frames(1, 2))
    expected = tiny(tiny_files).score(data)
    assert tiny(tiny_files, checkpoint=str(tmp_path / "ir.safetensors")).score(data) == pytest.approx(expected)


# ----------------------------------------------------------------------------------------------------- plugin


def test_plugin_registers_imagereward() -> None:
    from f2g_plugin_imagereward import plugin

    seen: list[Any] = []
    plugin.register_rewards(lambda cls, aliases=(): seen.append((cls.name, tuple(aliases))))
    assert seen == [("imagereward", ("image-reward",))]


@pytest.mark.heavy
def test_full_size_model_builds_and_scores() -> None:
    """The real-size architecture (447 M parameters, ~2 GB) runs end to end on random weights."""
    torch.manual_seed(0)
    vision = VisionConfig()
    model = ImageRewardModel(vision, TextConfig(encoder_width=vision.width)).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 224, 224), torch.tensor([[101, 1037, 2417, 2482, 102]]), torch.ones(1, 5))
    assert out.shape == (2,) and torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_runs_close_to_float32(tiny_files: Any, dtype: str) -> None:
    data = batch(frames(2, 2, seed=5))
    full = tiny(tiny_files).score(data)
    assert tiny(tiny_files, dtype=dtype).score(data) == pytest.approx(full, abs=0.05)


def test_reference_model_name_is_accepted() -> None:
    """``ImageReward-v1.0`` (the reference package's name for the model) means the official hub repo."""
    reward = ImageRewardReward(ImageRewardReward.Options(checkpoint="ImageReward-v1.0"))
    with pytest.raises(ComponentError, match=r"from 'THUDM/ImageReward'"):
        reward.load()
