"""The ``clip`` reward on tiny random open_clip models and on a model whose ranking is known by construction."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from f2g_plugin_clip import ClipComponents, ClipReward
from f2g_plugin_clip.testing import make_batch, random_frames, solid
from pydantic import ValidationError

from f2g_core.errors import ComponentError


def tiny_reward(model: str, **options: Any) -> ClipReward:
    return ClipReward(ClipReward.Options(**{"model": model, "pretrained": None, "device": "cpu", **options}))


# --------------------------------------------------------------------------------------------------- options


def test_options_defaults_match_the_paper() -> None:
    opts = ClipReward.Options()
    assert (opts.model, opts.pretrained, opts.aggregate, opts.scale) == ("ViT-B-32", "openai", "mean", None)


@pytest.mark.parametrize(
    "bad",
    [{"aggregate": "median"}, {"device": "gpu"}, {"dtype": "int8"}, {"batch_size": 0}, {"temperature": 1.0}],
)
def test_options_reject_invalid_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ClipReward.Options(**bad)


def test_unknown_architecture_suggests_close_matches() -> None:
    with pytest.raises(ComponentError, match=r"ViT-B-32"):
        ClipReward(ClipReward.Options(model="ViT-B-23")).load()


def test_unknown_pretrained_tag_lists_known_tags() -> None:
    with pytest.raises(ComponentError, match=r"laion2b_s34b_b79k"):
        ClipReward(ClipReward.Options(model="ViT-B-32", pretrained="nonsense")).load()


# -------------------------------------------------------------------------------------------- tiny real model


def test_shapes_one_score_per_candidate(tiny_clip: str) -> None:
    reward = tiny_reward(tiny_clip)
    scores = reward.score(make_batch(random_frames(3, 4)))
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)


def test_scores_equal_scaled_cosine_of_open_clip(tiny_clip: str) -> None:
    """The reward's number is exactly open_clip's ``logit_scale · cos`` averaged over frames."""
    import open_clip

    reward = tiny_reward(tiny_clip)
    batch = make_batch(random_frames(2, 3))
    scores = reward.score(batch)
    assert reward._parts is not None
    model, preprocess = reward._parts.model, reward._parts.preprocess
    tokens = open_clip.get_tokenizer(tiny_clip)([batch.prompt])
    with torch.no_grad():
        text = torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
        for i, pil in enumerate(batch.pil_frames(j) for j in range(2)):
            image = torch.nn.functional.normalize(model.encode_image(torch.stack([preprocess(p) for p in pil])), dim=-1)
            expected = (model.logit_scale.exp() * image @ text.T).mean().item()
            assert scores[i] == pytest.approx(expected, abs=1e-4)


def test_deterministic_and_invariant_to_batch_composition(tiny_checkpoint: Any, tiny_clip: str) -> None:
    frames = random_frames(4, 2, seed=3)
    first = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint))
    second = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint))
    full = first.score(make_batch(frames))
    assert second.score(make_batch(frames)) == pytest.approx(full, abs=1e-6)
    reordered = first.score(make_batch(frames[[2, 0]]))
    assert reordered == pytest.approx([full[2], full[0]], abs=1e-4)
    alone = second.score(make_batch(frames[3:]))
    assert alone == pytest.approx([full[3]], abs=1e-4)
    assert len(set(np.round(full, 5))) == 4  # random weights still tell different frames apart


def test_all_frames_go_through_one_forward(tiny_clip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reward = tiny_reward(tiny_clip)
    reward.load()
    assert reward._parts is not None
    calls: list[int] = []
    encode = reward._parts.model.encode_image
    monkeypatch.setattr(reward._parts.model, "encode_image", lambda x: calls.append(len(x)) or encode(x))
    batch = make_batch(random_frames(5, 4))
    whole = reward.score(batch)
    assert calls == [20]
    calls.clear()
    reward.options = reward.options.model_copy(update={"batch_size": 8})
    assert reward.score(batch) == pytest.approx(whole, abs=1e-5)
    assert calls == [8, 8, 4]


def test_text_embedding_is_computed_once_per_prompt(tiny_clip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reward = tiny_reward(tiny_clip)
    reward.load()
    assert reward._parts is not None
    calls: list[int] = []
    encode = reward._parts.model.encode_text
    monkeypatch.setattr(reward._parts.model, "encode_text", lambda t: calls.append(1) or encode(t))
    for _ in range(3):
        reward.score(make_batch(random_frames(2, 2), prompt="a cat"))
    reward.score(make_batch(random_frames(2, 2), prompt="a dog"))
    assert len(calls) == 2
    assert reward.usage() == {"calls": 4.0, "frames": 16.0, "text_cache_hits": 2.0}


def test_non_finite_candidate_scores_nan_others_unaffected(tiny_clip: str) -> None:
    reward = tiny_reward(tiny_clip)
    frames = random_frames(3, 2)
    clean = reward.score(make_batch(frames))
    frames[1, 0, 3, 3, 0] = np.nan
    scores = reward.score(make_batch(frames))
    assert math.isnan(scores[1])
    assert [scores[0], scores[2]] == pytest.approx([clean[0], clean[2]], abs=1e-4)


def test_explicit_scale_and_dtype(tiny_clip: str, tiny_checkpoint: Any) -> None:
    frames = random_frames(2, 2)
    base = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint), scale=1.0).score(make_batch(frames))
    assert all(-1.0 <= s <= 1.0 for s in base)
    half = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint), scale=1.0, dtype="bfloat16")
    assert half.score(make_batch(frames)) == pytest.approx(base, abs=0.05)
    scaled = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint), scale=7.0).score(make_batch(frames))
    assert scaled == pytest.approx([7 * s for s in base], abs=1e-5)


# ------------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_file_loads_exact_weights(tiny_clip: str, tiny_checkpoint: Any) -> None:
    reward = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint))
    reward.load()
    assert reward._parts is not None
    saved = torch.load(tiny_checkpoint)
    for key, value in reward._parts.model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_checkpoint_nested_and_ddp_prefixed(tiny_clip: str, tiny_checkpoint: Any, tmp_path: Any) -> None:
    state = torch.load(tiny_checkpoint)
    path = tmp_path / "nested.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    frames = random_frames(2, 2)
    expected = tiny_reward(tiny_clip, pretrained=str(tiny_checkpoint)).score(make_batch(frames))
    assert tiny_reward(tiny_clip, pretrained=str(path)).score(make_batch(frames)) == pytest.approx(expected, abs=1e-6)


def test_checkpoint_safetensors(tiny_clip: str, tiny_checkpoint: Any, tmp_path: Any) -> None:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in torch.load(tiny_checkpoint).items()}
    save_file(state, tmp_path / "w.safetensors")
    reward = tiny_reward(tiny_clip, pretrained=str(tmp_path / "w.safetensors"))
    assert len(reward.score(make_batch(random_frames(1, 2)))) == 1


def test_missing_checkpoint_file_is_a_clear_error(tiny_clip: str, tmp_path: Any) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(ComponentError, match=r"nope\.pt.*does not exist"):
        tiny_reward(tiny_clip, pretrained=str(missing)).load()


def test_checkpoint_lacking_keys_is_a_clear_error(tiny_clip: str, tiny_checkpoint: Any, tmp_path: Any) -> None:
    state = torch.load(tiny_checkpoint)
    del state["visual.proj"], state["text_projection"]
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(ComponentError, match=r"2 missing keys.*text_projection"):
        tiny_reward(tiny_clip, pretrained=str(path)).load()


def test_checkpoint_that_is_not_a_state_dict(tiny_clip: str, tmp_path: Any) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ComponentError, match=r"cannot read checkpoint"):
        tiny_reward(tiny_clip, pretrained=str(path)).load()


# ------------------------------------------------------------------------------------ ranking by construction


class ColourModel(torch.nn.Module):
    """Image embedding = mean colour minus grey; text embedding = the colour the prompt names.

    With it, a frame of the colour the prompt names must score highest: the test checks the reward's plumbing
    (candidate/frame ordering, cosine, scale, aggregation) against a known answer.
    """

    COLOURS: ClassVar[dict[str, tuple[float, float, float]]] = {
        "red": (1.0, -1.0, -1.0),
        "green": (-1.0, 1.0, -1.0),
        "blue": (-1.0, -1.0, 1.0),
    }

    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels.mean(dim=(2, 3)) - 0.5

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens


class ColourReward(ClipReward):
    name = "colour-test"

    def build(self) -> ClipComponents:
        from torchvision.transforms.functional import to_tensor

        def tokenizer(texts: list[str]) -> torch.Tensor:
            return torch.tensor([next(v for k, v in ColourModel.COLOURS.items() if k in t) for t in texts])

        model = ColourModel()
        return ClipComponents(model, to_tensor, tokenizer, default_scale=float(model.logit_scale.detach().exp()))


RED, GREEN, BLUE = solid((1, 0, 0)), solid((0, 1, 0)), solid((0, 0, 1))


def test_matching_frames_outrank_mismatching_ones() -> None:
    reward = ColourReward(ClipReward.Options(device="cpu"))
    frames = np.stack([np.stack([BLUE, BLUE]), np.stack([RED, RED]), np.stack([GREEN, RED])])
    scores = reward.score(make_batch(frames, prompt="a red balloon"))
    assert int(np.argmax(scores)) == 1
    assert scores[1] == pytest.approx(10.0, abs=1e-4)  # cos = 1, scaled by exp(logit_scale) = 10
    assert scores[0] == pytest.approx(-10.0 / 3.0, abs=1e-4)
    assert scores[2] == pytest.approx((10.0 - 10.0 / 3.0) / 2, abs=1e-4)
    green = reward.score(make_batch(frames, prompt="green grass"))
    assert int(np.argmax(green)) == 2


@pytest.mark.parametrize(("how", "expected"), [("mean", 10 / 3), ("min", -10 / 3), ("sum", 20 / 3)])
def test_aggregation_over_frames(how: str, expected: float) -> None:
    reward = ColourReward(ClipReward.Options(device="cpu", aggregate=how))
    frames = np.stack([np.stack([RED, BLUE])])
    assert reward.score(make_batch(frames, prompt="red")) == pytest.approx([expected], abs=1e-4)


def test_hf_hub_models_take_their_weights_from_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """``model: hf-hub:org/repo`` ignores the default ``openai`` tag (the repo holds the weights)."""
    import open_clip

    seen: dict[str, Any] = {}

    def fake_create(name: str, pretrained: Any = None, **kwargs: Any) -> Any:
        seen.update(name=name, pretrained=pretrained)
        raise RuntimeError("offline")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake_create)
    with pytest.raises(ComponentError, match=r"cannot create open_clip model 'hf-hub:org/repo'.*offline"):
        ClipReward(ClipReward.Options(model="hf-hub:org/repo")).load()
    assert seen == {"name": "hf-hub:org/repo", "pretrained": None}
