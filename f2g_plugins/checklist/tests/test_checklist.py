"""The ``checklist`` reward: presets, option checks, and scores equal to the weighted answer margins."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from f2g_plugin_checklist import plugin
from f2g_plugin_checklist.reward import ChecklistReward, read_preset
from pydantic import ValidationError

from f2g_core.contracts import RewardContract
from f2g_core.testing import textured_batch


def test_the_visionreward_preset_ships_its_29_questions_and_weights() -> None:
    preset = read_preset("visionreward-video")
    assert len(preset["questions"]) == len(preset["weights"]) == 29
    assert preset["questions"][0] == 'Does the video meet all the requirements stated in the text "[[prompt]]"?'
    assert preset["weights"][0] == pytest.approx(0.9543901856422174)
    assert "Apache-2.0" in preset["licence"] and preset["average"] == "count"


def test_options_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ValidationError, match="2 weights for 3 questions"):
        ChecklistReward.Options(questions=["a?", "b?", "c?"], weights=[1.0, 2.0])
    with pytest.raises(ValidationError, match="give questions, or a preset"):
        ChecklistReward.Options(preset=None)
    with pytest.raises(ValidationError, match="unknown preset 'nope'"):
        ChecklistReward.Options(preset="nope")
    options = ChecklistReward.Options(questions=["Is it red?", "Is it round?"])
    assert options.resolved() == (["Is it red?", "Is it round?"], [1.0, 1.0], "weights")


def reward(model: Path, **options: Any) -> ChecklistReward:
    checklist = ChecklistReward(ChecklistReward.Options(model=str(model), device="cpu", **options))
    checklist.load()
    return checklist


def test_the_score_is_the_weighted_margin_of_each_question(tiny_vlm: Path) -> None:
    batch = textured_batch(n=2, size=32)
    questions = ["Is the [[prompt]] red?", "Is the video smooth?"]
    plain = reward(tiny_vlm, questions=questions, weights=[2.0, -1.0])
    scores = plain.score(batch)
    margins = plain.last_margins
    assert margins is not None and margins.shape == (2, 2) and np.all(np.abs(margins) <= 1)
    np.testing.assert_allclose(scores, (2 * margins[:, 0] - margins[:, 1]) / 3, rtol=1e-12)
    by_count = reward(tiny_vlm, questions=questions, weights=[2.0, -1.0], average="count")
    np.testing.assert_allclose(by_count.score(batch), (2 * margins[:, 0] - margins[:, 1]) / 2, rtol=1e-5)
    flipped = reward(tiny_vlm, questions=questions, weights=[-2.0, 1.0])
    np.testing.assert_allclose(flipped.score(batch), -np.asarray(scores), rtol=1e-5)


def test_a_margin_is_p_yes_minus_p_no_of_the_first_answer_token(tiny_vlm: Path) -> None:
    import torch

    checklist = reward(tiny_vlm, questions=["Is the video smooth?"])
    batch = textured_batch(n=1, size=32)
    checklist.score(batch)
    vlm = checklist.vlm
    assert vlm is not None and checklist.last_margins is not None
    text = checklist._text("Is the video smooth?", len(batch.frame_indices))
    assert text.endswith("Answer yes or no.<|im_end|>\n<|im_start|>assistant\n")
    inputs = vlm.processor(text=[text], images=[batch.pil_frames(0)], return_tensors="pt")
    with torch.inference_mode():
        probs = torch.softmax(vlm.model(**inputs).logits[0, -1].float(), dim=-1)
    yes, no = vlm.option_ids()
    expected = float(probs[list(yes)].sum() - probs[list(no)].sum())
    assert checklist.last_margins[0, 0] == pytest.approx(expected, abs=1e-5)


def vision_calls(checklist: ChecklistReward) -> list[int]:
    """A counter of the VLM's vision-tower calls."""
    assert checklist.vlm is not None
    calls = [0]

    def count(*_: Any) -> None:
        calls[0] += 1

    checklist.vlm.model.model.visual.register_forward_hook(count)
    return calls


@pytest.mark.numerics
def test_questions_continued_from_the_shared_frames_equal_whole_passes(tiny_vlm_family: Path) -> None:
    """The frames and the chat before the question are encoded once per chunk of candidates; each question's margin
    equals that of a whole forward pass over its prompt (float rounding aside)."""
    questions = ["Is the [[prompt]] red?", "Is the video smooth?", "Is the motion natural and smooth?"]
    batch = textured_batch(n=3, size=32)
    margins = {}
    for share in (True, False):
        checklist = reward(tiny_vlm_family, questions=questions, batch_size=4, share_prefix=share)
        seen = vision_calls(checklist)
        checklist.score(batch)
        margins[share] = checklist.last_margins
        # one chunk of 3 candidates: the frames once, then 9 continuations in passes of 4; or 3 whole passes
        assert (checklist.usage()["calls"], seen[0]) == ((1 + 3, 1) if share else (3, 3))
    assert margins[True] is not None and margins[False] is not None
    # the random miniature's margins are about 1e-3 and move by 1e-5 between candidates; float rounding moves them
    # by about 5e-9, a continuation one position off by 5e-7 (Qwen2.5-VL) to 7e-5 (Qwen3-VL)
    np.testing.assert_allclose(margins[True], margins[False], rtol=0, atol=5e-8)
    assert np.ptp(margins[False], axis=0).max() > 1e-5  # each candidate's frames reached the model


class TestChecklistContract(RewardContract):
    plugin = plugin
    component_id = "checklist"
    options: ClassVar[dict[str, Any]] = {"questions": ["Is the video smooth?", "Is the [[prompt]] visible?"]}

    @pytest.fixture(scope="class")
    @classmethod
    def component(cls, tiny_vlm: Path) -> Iterator[ChecklistReward]:
        checklist = reward(tiny_vlm, **cls.options)
        yield checklist
        checklist.close()


def test_non_finite_frames_are_never_shown(tiny_vlm: Path) -> None:
    checklist = reward(tiny_vlm, questions=["Is the video smooth?"])
    batch = textured_batch(n=2, size=32)
    batch.frames[0, 0, 0, 0, 0] = np.nan
    scores = checklist.score(batch)
    assert math.isnan(scores[0]) and math.isfinite(scores[1])
    assert checklist.usage()["nan_scores"] == 1


def test_f2g_generate_guides_with_the_checklist_on_the_shapes_world(tmp_path: Path) -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    import json

    from typer.testing import CliRunner

    from f2g_core.cli import app

    args = ["generate", "a red circle moving left", "-r", "checklist", "--set", "rewards.0.options.model=tiny"]
    args += ["--set", "rewards.0.options.device=cpu", "-n", "2", "--steps", "4", "--guided-steps", "1"]
    args += ["--method", "free2guide"]  # the default (prune) has no guided steps
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    scores = [s for step in trace["steps"] for s in step.get("scores", {}).get("checklist", [])]
    assert len(scores) == 2 and all(s is not None and abs(s) <= 0.22 for s in scores)


def test_f2g_eval_scores_videos_with_the_checklist_as_a_metric(tmp_path: Path) -> None:
    """Issue 21: every reward is also an eval metric; the checklist's column is its weighted margin in [-1, 1]."""
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    pytest.importorskip("f2g_eval", reason="f2g eval is the f2g-eval distribution")
    from f2g_torch_utils.testing import eval_columns

    columns = eval_columns(tmp_path, "checklist", "a red circle moving left")
    assert list(columns) == ["checklist"]
    assert math.isfinite(columns["checklist"]) and abs(columns["checklist"]) <= 0.22
