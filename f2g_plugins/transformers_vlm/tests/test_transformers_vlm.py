"""The transformers-vlm reward on a tiny random LLaVA built offline (real AutoProcessor / AutoModel loading)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from f2g_plugin_transformers_vlm import TransformersVLMReward

from f2g_core.errors import ComponentError


def make(folder, **options):
    reward = TransformersVLMReward(TransformersVLMReward.Options(model=str(folder), local_files_only=True, **options))
    reward.load()
    return reward


def test_scores_are_expectations_in_range_and_batched(tiny_vlm_dir, lvlm_batch):
    reward = make(tiny_vlm_dir, batch_size=2)
    batch = lvlm_batch(n=3)
    scores = reward.score(batch)
    assert len(scores) == 3 and all(1.0 <= s <= 9.0 for s in scores)
    assert reward.usage()["calls"] == 2 and reward.usage()["candidates"] == 3
    assert len(set(scores)) == 3  # the images reach the model: different frames, different scores
    for detail in reward.last_details:
        assert sum(detail["probs"].values()) == pytest.approx(1.0)
    one_by_one = make(tiny_vlm_dir, batch_size=1).score(batch)
    assert one_by_one == pytest.approx(scores, abs=1e-4)


def test_prompt_ends_with_answer_prefix(tiny_vlm_dir):
    reward = make(tiny_vlm_dir)
    marker = reward.processor.image_token  # "<image>" (LLaVA) or "<|image_pad|>" (Qwen2.5-VL)
    text = reward._text("a red circle", 4)
    assert text.endswith("assistant|>Answer:") or text.endswith("assistant\nAnswer:")
    assert '"a red circle"' in text and text.count(marker) == 1
    assert "2×2 grid" in text and "Reply with nothing but" in text
    frames = make(tiny_vlm_dir, images="frames", system_role=False)._text("a red circle", 4)
    assert frames.count(marker) == 4 and "<|system|>" not in frames and "<|im_start|>system" not in frames


def test_yes_no_scale(tiny_vlm_dir, lvlm_batch):
    reward = make(tiny_vlm_dir, scale="yes-no")
    scores = reward.score(lvlm_batch(n=2))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert reward.last_details[0]["probs"].keys() == {"yes", "no"}


def test_frames_mode(tiny_vlm_dir, lvlm_batch):
    scores = make(tiny_vlm_dir, images="frames", batch_size=2).score(lvlm_batch(n=3))
    assert all(1.0 <= s <= 9.0 for s in scores)


def test_expectation_from_controlled_logits(tiny_vlm_dir, lvlm_batch):
    import torch

    reward = make(tiny_vlm_dir)
    vocab = reward.processor.tokenizer.get_vocab()

    class Peaked(torch.nn.Module):
        """Puts half the probability on '7' and half on '9' at the answer position."""

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, **kwargs):
            logits = torch.full((input_ids.shape[0], input_ids.shape[1], len(vocab)), -30.0)
            logits[:, -1, vocab["7"]] = 5.0
            logits[:, -1, vocab["9"]] = 5.0
            logits[:, -1, vocab["the"]] = 8.0  # mass on non-answers is ignored
            return SimpleNamespace(logits=logits)

    reward.model = Peaked()
    assert reward.score(lvlm_batch(n=2)) == pytest.approx([8.0, 8.0])

    class Broken(Peaked):
        def forward(self, input_ids, **kwargs):
            out = super().forward(input_ids)
            out.logits[:] = float("nan")
            return out

    reward.model = Broken()
    assert all(math.isnan(s) for s in reward.score(lvlm_batch(n=2)))
    assert reward.usage()["nan_scores"] == 2


def test_dtype_and_device_options(tiny_vlm_dir, lvlm_batch):
    import torch

    reward = make(tiny_vlm_dir, dtype="bfloat16", device="cpu")
    assert next(reward.model.parameters()).dtype == torch.bfloat16
    assert all(1.0 <= s <= 9.0 for s in reward.score(lvlm_batch(n=1)))


def test_missing_checkpoint_is_a_component_error(tmp_path):
    with pytest.raises(ComponentError, match="cannot load"):
        make(tmp_path / "nothing-here")
