"""Answer parsing and the expectation over answer-token probabilities."""

import math

import pytest
from f2g_lvlm.fake_server import tokenize
from f2g_lvlm.parsing import (
    ParseFailure,
    TokenLogprob,
    option_probs,
    parse_answer,
    score_answer,
    score_from_logits,
)


@pytest.mark.parametrize(
    ("text", "scale", "answer"),
    [
        ("Reasoning: fine.\nAnswer: 7", "1-9", "7"),
        ("**Answer:** 8", "1-9", "8"),
        ("answer 3", "1-9", "3"),
        ("Answer: 2 first... no wait. Answer: 6", "1-9", "6"),
        ("Answer: 7.", "1-9", "7"),
        ("9", "1-9", "9"),
        ("Answer: Yes", "yes-no", "yes"),
        ("The frames do not match.\nAnswer: no", "yes-no", "no"),
        ("Yes.", "yes-no", "yes"),
    ],
)
def test_parse_answer(text, scale, answer):
    assert parse_answer(text, scale)[0] == answer


@pytest.mark.parametrize(
    ("text", "scale"),
    [
        ("Answer: 10", "1-9"),
        ("Answer: 0", "1-9"),
        ("Answer: 7.5", "1-9"),
        ("I like it", "1-9"),
        ("Answer: 7", "yes-no"),
        ("", "1-9"),
        ("Answer: maybe", "yes-no"),
    ],
)
def test_unparsable_answers_raise(text, scale):
    with pytest.raises(ParseFailure):
        parse_answer(text, scale)


def _tokens(text, probs=None):
    tokens = tokenize(text)
    out = [TokenLogprob(t, 0.0) for t in tokens]
    if probs:
        out[-1] = TokenLogprob(tokens[-1], 0.0, {" " + k: math.log(p) for k, p in probs.items()})
    return out


def test_expectation_over_digits():
    score = score_answer("ok. Answer: 7", "1-9", _tokens("ok. Answer: 7", {"7": 0.5, "8": 0.25, "5": 0.25}))
    assert score.method == "logprobs"
    assert score.value == pytest.approx(7 * 0.5 + 8 * 0.25 + 5 * 0.25)
    assert score.answer == "7"


def test_expectation_renormalises_and_pools_variants():
    alternatives = {" 7": math.log(0.3), "7": math.log(0.1), " 9": math.log(0.4), " the": math.log(0.2)}
    probs = option_probs(alternatives, "1-9")
    assert probs == pytest.approx({"7": 0.5, "9": 0.5})


def test_p_yes():
    score = score_answer("Answer: yes", "yes-no", _tokens("Answer: yes", {"yes": 0.6, "no": 0.2}))
    assert score.value == pytest.approx(0.75)


def test_without_logprobs_or_alternatives_the_parsed_answer_is_the_score():
    assert score_answer("Answer: 4", "1-9").value == 4.0
    assert score_answer("Answer: 4", "1-9").method == "parsed"
    no_digits = [TokenLogprob("Answer", 0.0), TokenLogprob(":", 0.0), TokenLogprob(" 4", 0.0, {" four": -0.1})]
    assert score_answer("Answer: 4", "1-9", no_digits).method == "parsed"


def test_the_answer_token_not_an_earlier_digit_is_used():
    text = "Frame 1 has 3 circles.\nAnswer: 6"
    tokens = [TokenLogprob(t, 0.0, {t: 0.0, " 2": -0.1}) for t in tokenize(text)]
    tokens[-1] = TokenLogprob(" 6", -0.1, {" 6": math.log(0.5), " 4": math.log(0.5)})
    assert score_answer(text, "1-9", tokens).value == pytest.approx(5.0)


def test_score_from_logits():
    score = score_from_logits([0.0, 0.0, math.log(2.0)], ["1", "2", "3"], "1-9")
    assert score.value == pytest.approx((1 + 2 + 3 * 2) / 4)
    assert score_from_logits([2.0, 2.0], ["yes", "no"], "yes-no").value == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("chosen", "own"),
    [(math.nan, math.log(0.5)), (-0.7, math.nan), (math.inf, math.log(0.5)), (-0.7, math.inf)],
)
def test_unusable_answer_logprobs_fall_back_to_the_parsed_answer(chosen, own):
    """A NaN for the answer digit scored the other digits' mean (4.75 for "Answer: 7"), a rating never given."""
    text = "Looks right.\nAnswer: 7"
    tokens = [TokenLogprob(t, 0.0) for t in tokenize(text)]
    others = {" 3": math.log(0.25), " 4": math.log(0.25), " 6": math.log(0.25), " 6 ": math.log(0.25)}
    tokens[-1] = TokenLogprob(tokens[-1].token, chosen, {" 7": own, **others})
    score = score_answer(text, "1-9", tokens)
    assert (score.value, score.method, score.logprobs_unusable) == (7.0, "parsed", True)


def test_minus_infinity_is_a_probability_of_zero_not_a_fault():
    text = "Answer: 7"
    tokens = [TokenLogprob(t, 0.0) for t in tokenize(text)]
    tokens[-1] = TokenLogprob(tokens[-1].token, 0.0, {" 7": 0.0, " 2": -math.inf})
    score = score_answer(text, "1-9", tokens)
    assert (score.value, score.method, score.logprobs_unusable) == (7.0, "logprobs", False)
