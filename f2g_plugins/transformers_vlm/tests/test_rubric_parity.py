"""f2g's VideoScore2 and UnifiedReward-2.0 rubrics against goldens made by the references' own code.

``tests/golden/rubrics.json`` comes from ``scripts/make_golden.py``, which runs the references' prompt building,
reply regex, score-token search and scoring functions (VideoScore2 ``vs2_inference.py`` / ``vs2_float.py``;
UnifiedReward ``point_score_APS_video_generation.py``) on synthetic replies with seeded random logits. Neither
reference runs end to end without its GPU checkpoint; UnifiedReward has no parser, so its published example reply
is the check.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from f2g_lvlm.parsing import ParseFailure
from f2g_lvlm.rubrics import RUBRICS, evenly_spaced

GOLDEN = Path(__file__).with_name("golden")


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / "rubrics.json").read_text())
    return data


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(GOLDEN / "byte_tokenizer.json"))


@pytest.mark.parametrize("name", ["videoscore2", "unifiedreward"])
def test_the_prompt_is_the_reference_text_byte_for_byte(golden: dict[str, Any], name: str) -> None:
    prompts = golden[name]["prompts"]
    assert len(prompts) == 3
    for prompt, expected in prompts.items():
        assert RUBRICS[name].text(prompt) == expected


def test_unifiedreward_shows_the_frames_its_reader_keeps(golden: dict[str, Any]) -> None:
    for total, selected in golden["unifiedreward"]["frames"].items():
        # the reader keeps each selected frame once, in order (a short video yields fewer than 16)
        assert evenly_spaced(int(total), 16) == sorted(set(selected)), total


def test_unifiedreward_parses_the_published_example_reply(golden: dict[str, Any]) -> None:
    reply = golden["unifiedreward"]["example_reply"]
    assert RUBRICS["unifiedreward"].parse(reply) == {"alignment": 2.4036, "physics": 3.0987, "style": 3.3889}
    with pytest.raises(ParseFailure, match="no style score"):
        RUBRICS["unifiedreward"].parse(reply.replace("Style", "Looks"))
    with pytest.raises(ParseFailure, match="no physics score from 1 to 5"):
        RUBRICS["unifiedreward"].parse(reply.replace("3.0987", "7"))


def test_videoscore2_parses_replies_as_the_reference_regex(golden: dict[str, Any]) -> None:
    for case in golden["videoscore2"]["cases"]:
        parsed = RUBRICS["videoscore2"].parse(case["reply"])
        assert list(parsed.values()) == case["hard"]


def test_videoscore2_reads_each_score_where_the_reference_finds_it(golden: dict[str, Any], tokenizer: Any) -> None:
    """f2g fills the reply up to each label and reads the next token: that token is the one the reference's
    ``find_score_token_index_by_prompt`` picks in the full reply."""
    rubric = RUBRICS["videoscore2"]
    for case in golden["videoscore2"]["cases"]:
        reply, digits = case["reply"], [str(h) for h in case["hard"]]
        lead = reply[: reply.index("visual quality")]  # a chain of thought before the scores
        assert lead + rubric.answer(digits) == reply  # f2g's filled reply is the reference format
        assert tokenizer.encode(reply, add_special_tokens=False) == case["token_ids"]
        slots = [len(tokenizer.encode(lead + rubric.answer(digits[:k]), add_special_tokens=False)) for k in range(3)]
        assert slots == case["indices"]


@pytest.mark.parametrize(
    ("rule", "key", "tolerance"), [("expectation", "weighted", 1e-5), ("argmax-confidence", "normed", 6e-5)]
)
def test_videoscore2_scores_match_the_reference_rules(
    golden: dict[str, Any], tokenizer: Any, rule: str, key: str, tolerance: float
) -> None:
    import torch
    from f2g_plugin_transformers_vlm.answers import option_log_probs, option_token_ids
    from f2g_plugin_transformers_vlm.rubric import digit_scores

    digit_ids = [option_token_ids(tokenizer, d) for d in RUBRICS["videoscore2"].digits]
    for case in golden["videoscore2"]["cases"]:
        generator = torch.Generator().manual_seed(case["seed"])
        logits = torch.randn(len(case["token_ids"]), tokenizer.vocab_size, generator=generator)
        rows = torch.log_softmax(logits[case["indices"]], dim=-1)
        scores, best = digit_scores(option_log_probs(rows, digit_ids), rule)  # type: ignore[arg-type]
        assert scores.tolist() == pytest.approx(case[key], abs=tolerance)
        assert not any(math.isnan(s) for s in scores)
        assert rule != "expectation" or all(1 <= s <= 5 for s in scores)
        assert best.tolist() == [
            int(torch.argmax(logits[i, [tokenizer.convert_tokens_to_ids(d) for d in "12345"]])) for i in case["indices"]
        ]
