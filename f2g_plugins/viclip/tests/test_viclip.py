"""The ``viclip`` reward: parity with the reference ViCLIP (as VBench runs it), batching, frames, errors."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from f2g_plugin_viclip import ViCLIPReward
from f2g_plugin_viclip.model import TextConfig, ViCLIPModel, VisionConfig
from f2g_plugin_viclip.preprocess import select_frames
from f2g_plugin_viclip.testing import PROMPTS, describe, parity_videos
from pydantic import ValidationError

from f2g_core.errors import ComponentError
from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_core.testing import assert_close_to_scale

GOLDEN = json.loads((Path(__file__).parent / "golden_viclip.json").read_text())
PARITY_ULPS = 4096


def reward_for(checkpoint: Path, **options: Any) -> ViCLIPReward:
    return ViCLIPReward(ViCLIPReward.Options(**{"checkpoint": str(checkpoint), "device": "cpu", **options}))


def batch(frames: np.ndarray, prompt: str = PROMPTS[0]) -> RewardBatch:
    indices = tuple(int(i) for i in np.linspace(0, 15, frames.shape[1]).round())
    return RewardBatch(prompt, frames.astype(np.float32), indices, 16, StepInfo(index=0, num_steps=50, timestep=999.0))


@pytest.fixture(scope="module")
def reward(tiny_checkpoint: Path) -> ViCLIPReward:
    reward = reward_for(tiny_checkpoint)
    reward.load()
    return reward


# ----------------------------------------------------------------------------------------------------- parity


def test_golden_file_describes_these_inputs() -> None:
    assert {k: GOLDEN[k] for k in describe()} == describe()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_tokens_match_reference(reward: ViCLIPReward, prompt: str) -> None:
    assert reward._tokenizer([prompt])[0].tolist() == GOLDEN["tokens"][prompt]


@pytest.mark.numerics
@pytest.mark.parametrize("prompt", PROMPTS)
def test_scores_match_reference(reward: ViCLIPReward, prompt: str) -> None:
    scores = reward.score(batch(parity_videos() / 255.0, prompt))
    assert_close_to_scale(scores, GOLDEN["scores"][prompt], ulps=PARITY_ULPS, what="ViCLIP scores vs reference")


def test_golden_scores_are_not_degenerate() -> None:
    assert all(np.ptp(GOLDEN["scores"][p]) > 0.01 for p in PROMPTS)


# ------------------------------------------------------------------------------------------------------ layout


def test_default_sizes_are_viclip_l14() -> None:
    """At its defaults the module is ViCLIP-L/14 (the published checkpoint's shapes), and sizes read back."""
    with torch.device("meta"):
        model = ViCLIPModel(VisionConfig(), TextConfig())
    state = model.state_dict()
    assert state["vision_encoder.conv1.weight"].shape == (1024, 3, 1, 14, 14)
    assert state["vision_encoder.positional_embedding"].shape == (257, 1024)
    assert state["vision_encoder.temporal_positional_embedding"].shape == (1, 8, 1024)
    assert state["text_encoder.positional_embedding"].shape == (32, 768)
    assert state["vision_encoder.transformer.resblocks.23.attn.in_proj_weight"].shape == (3072, 1024)
    from f2g_plugin_viclip.model import configs_from_state

    assert configs_from_state(state) == (VisionConfig(), TextConfig())


# ----------------------------------------------------------------------------------------------------- options


def test_options() -> None:
    opts = ViCLIPReward.Options()
    assert (opts.checkpoint, opts.preprocess, opts.scale) == ("OpenGVLab/ViCLIP", "vbench", 1.0)
    for bad in ({"preprocess": "opencv"}, {"device": "gpu0"}, {"batch_size": 0}, {"frames": 8}):
        with pytest.raises(ValidationError):
            ViCLIPReward.Options(**bad)


# ----------------------------------------------------------------------------------------------------- scoring


def random_videos(n: int, f: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, f, 40, 56, 3), dtype=np.float32)


def test_one_score_per_candidate_in_one_forward(reward: ViCLIPReward, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reward._model is not None
    seen: list[tuple[int, ...]] = []
    encoder = reward._model.vision_encoder
    forward = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda v: seen.append(tuple(v.shape)) or forward(v))
    scores = reward.score(batch(random_videos(3)))
    assert len(scores) == 3 and all(-1 <= s <= 1 for s in scores)
    assert seen == [(3, 3, 8, 224, 224)]


def test_batch_composition_and_batch_size(tiny_checkpoint: Path, reward: ViCLIPReward) -> None:
    videos = random_videos(4, seed=2)
    full = reward.score(batch(videos))
    assert reward.score(batch(videos[[3, 0]])) == pytest.approx([full[3], full[0]], abs=1e-5)
    assert reward_for(tiny_checkpoint, batch_size=3).score(batch(videos)) == pytest.approx(full, abs=1e-5)
    assert len({round(s, 6) for s in full}) == 4


def test_frame_order_matters(reward: ViCLIPReward) -> None:
    """ViCLIP is a video model: reversing time changes the score (temporal position embeddings)."""
    video = parity_videos()[1:2] / 255.0
    forward, backward = reward.score(batch(video)), reward.score(batch(video[:, ::-1]))
    assert abs(forward[0] - backward[0]) > 1e-4


def test_other_frame_counts_are_resampled_with_one_warning(
    tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reward = reward_for(tiny_checkpoint)
    videos = random_videos(2, f=8)
    eight = reward.score(batch(videos))
    with caplog.at_level(logging.WARNING):
        four = reward.score(batch(videos[:, ::2]))  # frames 0,2,4,6 -> resampled to 0,0,1,1,2,3,3,3… of those
        reward.score(batch(videos[:, ::2]))
    assert [r.message.count("resampling") for r in caplog.records] == [1]
    assert all(math.isfinite(s) for s in four) and four != pytest.approx(eight, abs=1e-6)
    assert select_frames(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert select_frames(16, 8).tolist() == [0, 2, 4, 6, 9, 11, 13, 15]


def test_text_embedding_cached(reward: ViCLIPReward, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reward._model is not None
    calls: list[int] = []
    forward = reward._model.text_encoder.forward
    monkeypatch.setattr(reward._model.text_encoder, "forward", lambda t: calls.append(1) or forward(t))
    for _ in range(3):
        reward.score(batch(random_videos(1), prompt="a brand new prompt"))
    assert calls == [1]


def test_internvid_preprocessing_and_scale(tiny_checkpoint: Path, reward: ViCLIPReward) -> None:
    videos = random_videos(2)
    vbench = reward.score(batch(videos))
    internvid = reward_for(tiny_checkpoint, preprocess="internvid").score(batch(videos))
    assert all(math.isfinite(s) for s in internvid) and internvid != pytest.approx(vbench, abs=1e-5)
    scaled = reward_for(tiny_checkpoint, scale=100.0).score(batch(videos))
    assert scaled == pytest.approx([100 * s for s in vbench], abs=1e-3)


def test_non_finite_candidate_is_nan(reward: ViCLIPReward) -> None:
    videos = random_videos(3)
    clean = reward.score(batch(videos))
    videos[2, 5, 0, 0, 0] = np.nan
    scores = reward.score(batch(videos))
    assert math.isnan(scores[2]) and scores[:2] == pytest.approx(clean[:2], abs=1e-5)


# ------------------------------------------------------------------------------------------------- checkpoints


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"ViClip\.pth.*does not exist"):
        reward_for(tmp_path / "ViClip.pth").load()


def test_checkpoint_lacking_keys(tiny_checkpoint: Path, tmp_path: Path) -> None:
    state = torch.load(tiny_checkpoint)["model"]
    del state["text_encoder.ln_final.weight"]
    torch.save({"model": state}, tmp_path / "partial.pth")
    with pytest.raises(ComponentError, match=r"1 missing keys \(e\.g\. text_encoder\.ln_final\.weight\)"):
        reward_for(tmp_path / "partial.pth").load()


def test_not_a_viclip_checkpoint(tmp_path: Path) -> None:
    torch.save({"model": {"weight": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(ComponentError, match=r"not a ViCLIP checkpoint"):
        reward_for(tmp_path / "other.pth").load()


def test_bare_state_dict_is_accepted(tiny_checkpoint: Path, tmp_path: Path, reward: ViCLIPReward) -> None:
    torch.save(torch.load(tiny_checkpoint)["model"], tmp_path / "bare.pt")
    videos = random_videos(1)
    assert reward_for(tmp_path / "bare.pt").score(batch(videos)) == pytest.approx(reward.score(batch(videos)))


def test_hub_download_offline_says_what_to_do() -> None:
    with pytest.raises(ComponentError, match=r"set options.checkpoint"):
        ViCLIPReward(ViCLIPReward.Options(device="cpu")).load()


# ------------------------------------------------------------------------------------------------------ plugin


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_runs_close_to_float32(tiny_checkpoint: Path, reward: ViCLIPReward, dtype: str) -> None:
    """Half-precision weights (GPU use) work end to end; the text tower's LayerNorms still compute in float32."""
    videos = random_videos(2, seed=4)
    half = reward_for(tiny_checkpoint, dtype=dtype).score(batch(videos))
    assert half == pytest.approx(reward.score(batch(videos)), abs=0.02)


@pytest.mark.heavy
def test_full_size_viclip_runs() -> None:
    """ViCLIP-L/14 at its real size (~430 M parameters) on one random 8-frame clip and one prompt."""
    torch.manual_seed(0)
    model = ViCLIPModel(VisionConfig(), TextConfig()).eval()
    with torch.inference_mode():
        video = model.vision_encoder(torch.randn(1, 3, 8, 224, 224))
        text = model.text_encoder(torch.tensor([[49406, 320, 736, 1615, 49407] + [0] * 27]))
    assert video.shape == (1, 768) and text.shape == (1, 768)
    assert torch.isfinite(video).all() and torch.isfinite(text).all()
