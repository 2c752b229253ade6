"""``hps`` against golden values from the reference HPSv2 code (the ``hpsv2`` package's open_clip fork).

``scripts/make_hps_golden.py`` ran the fork's model, evaluation transform (longest side resized, zero-padded) and
tokenizer on seeded weights; here the same weights, saved in HPSv2's checkpoint layout, go through our reward on
current open_clip. This also proves that the fork's parameter names load strictly into current open_clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from f2g_plugin_clip import HPSReward
from f2g_plugin_clip.testing import (
    HPS_PROMPTS,
    TINY_OPEN_CLIP,
    hps_parity_images,
    make_batch,
    random_frames,
    seeded_state,
)

from f2g_core.testing import assert_close_to_scale

GOLDEN = json.loads((Path(__file__).parent / "golden_hps.json").read_text())


@pytest.fixture(scope="module")
def hps(tiny_clip: str, tmp_path_factory: pytest.TempPathFactory) -> HPSReward:
    import open_clip

    state = seeded_state(open_clip.create_model(tiny_clip).state_dict(), seed=GOLDEN["seed"])
    path = tmp_path_factory.mktemp("hps") / "HPS_tiny.pt"
    torch.save({"state_dict": state}, path)
    reward = HPSReward(HPSReward.Options(model=tiny_clip, checkpoint=str(path), device="cpu"))
    reward.load()
    return reward


def test_golden_file_matches_these_fixtures(tiny_clip: str) -> None:
    import open_clip

    assert GOLDEN["config"] == TINY_OPEN_CLIP and GOLDEN["prompts"] == HPS_PROMPTS
    assert GOLDEN["keys"] == sorted(open_clip.create_model(tiny_clip).state_dict())  # same parameter names


@pytest.mark.parametrize("prompt", HPS_PROMPTS)
def test_tokens_match_reference(hps: HPSReward, prompt: str) -> None:
    assert hps._parts is not None
    assert hps._parts.tokenizer([prompt])[0].tolist() == GOLDEN["tokens"][prompt]


PARITY_ULPS = 4096


@pytest.mark.numerics
@pytest.mark.parametrize("prompt", HPS_PROMPTS)
def test_scores_match_reference(hps: HPSReward, prompt: str) -> None:
    ours = []
    for image in hps_parity_images():
        frames = np.asarray(image, dtype=np.float32)[None, None] / 255.0  # one candidate, one frame
        ours.extend(hps.score(make_batch(frames, prompt=prompt)))
    assert_close_to_scale(ours, GOLDEN["scores"][prompt], ulps=PARITY_ULPS, what="HPS scores vs reference")


def test_golden_scores_spread() -> None:
    assert all(np.ptp(GOLDEN["scores"][p]) > 0.05 for p in HPS_PROMPTS)


def test_usage_counts(hps: HPSReward) -> None:
    """Counts what this test scored, whatever ran before on the shared module fixture."""
    frames = random_frames(2, 3, seed=1)
    frames[1, 0, 0, 0, 0] = np.nan  # a non-finite candidate is not sent to the model
    before = hps.usage()
    hps.score(make_batch(frames, prompt="usage counting"))
    hps.score(make_batch(frames[:1], prompt="usage counting"))
    after = hps.usage()
    assert after["calls"] - before["calls"] == 2
    assert after["frames"] - before["frames"] == 3 + 3
    assert after["text_cache_hits"] - before["text_cache_hits"] == 1  # the prompt was embedded once
