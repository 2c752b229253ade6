"""Turning an LVLM's answer into a score: the expectation over answer-token probabilities, or the parsed answer.

Free²Guide scores a candidate with the expectation of the rating under the model's answer-token distribution
(digits 1–9), or P(yes) on the binary scale: it separates candidates the model rates "7" with different
confidence, which one parsed token cannot. Where log-probabilities are not available (Anthropic, servers that do
not return them), the parsed answer is the score. An answer that cannot be parsed raises :class:`ParseFailure`
— callers retry and finally score NaN, never a silent 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from f2g_lvlm.templates import Scale

DIGITS: tuple[str, ...] = tuple(str(d) for d in range(1, 10))

_ANSWER = {
    "1-9": re.compile(r"answer\s*[:：]?\s*[*_\"'`]*\s*([1-9])(?!\d|\.\d)", re.IGNORECASE),
    "yes-no": re.compile(r"answer\s*[:：]?\s*[*_\"'`]*\s*(yes|no)\b", re.IGNORECASE),
}
_BARE = {
    "1-9": re.compile(r"^\W*([1-9])\W*$"),
    "yes-no": re.compile(r"^\W*(yes|no)\W*$", re.IGNORECASE),
}


class ParseFailure(ValueError):
    """The answer has no ``Answer: …`` on the expected scale."""


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the top alternatives at its position."""

    token: str
    logprob: float
    top: Mapping[str, float] = field(default_factory=dict)
    """Alternative token text → log-probability (the chosen token usually included)."""


@dataclass(frozen=True)
class AnswerScore:
    """The score of one answer, and how it was obtained (for the trace and debugging)."""

    value: float
    answer: str
    """The parsed answer token: ``"1"``–``"9"``, ``"yes"`` or ``"no"``."""
    method: Literal["logprobs", "parsed"]
    probs: Mapping[str, float] | None = None
    """Normalised probabilities of the answer options, when log-probabilities were used."""
    logprobs_unusable: bool = False
    """The answer token came with log-probabilities that are not log-probabilities (NaN, +inf), so the parsed
    answer was used instead (counted as ``logprob_fallbacks``)."""


def parse_answer(text: str, scale: Scale) -> tuple[str, int]:
    """The last ``Answer: N`` (or ``Answer: yes/no``) in ``text``, lower-cased, and where its value starts.

    A reply that is nothing but the answer (``"7"``, ``"Yes."``) is accepted too.
    """
    matches = list(_ANSWER[scale].finditer(text))
    if matches:
        last = matches[-1]
        return last.group(1).lower(), last.start(1)
    bare = _BARE[scale].match(text.strip())
    if bare:
        return bare.group(1).lower(), text.find(bare.group(1))
    snippet = text.strip().replace("\n", " ")
    snippet = snippet if len(snippet) <= 80 else "…" + snippet[-79:]
    raise ParseFailure(f"no 'Answer: {'1-9' if scale == '1-9' else 'yes/no'}' in reply {snippet!r}")


def answer_value(answer: str, scale: Scale) -> float:
    """The score of a parsed answer: the digit, or 1.0 / 0.0 for yes / no."""
    if scale == "1-9":
        return float(int(answer))
    return 1.0 if answer == "yes" else 0.0


def option_probs(alternatives: Mapping[str, float], scale: Scale) -> dict[str, float]:
    """Normalised probabilities of the answer options among top alternatives (token → log-probability).

    Tokens are compared stripped and lower-cased, so ``" 7"`` and ``"7"`` (or ``"Yes"`` and ``" yes"``) pool their
    mass. Returns ``{}`` when no option appears.
    """
    options = DIGITS if scale == "1-9" else ("yes", "no")
    mass: dict[str, float] = {}
    for token, logprob in alternatives.items():
        key = token.strip().lower()
        if key in options and math.isfinite(logprob):
            mass[key] = mass.get(key, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return {}
    return {k: v / total for k, v in sorted(mass.items())}


def expectation(probs: Mapping[str, float], scale: Scale) -> float:
    """E[rating] over digit probabilities, or P(yes) on the binary scale."""
    if scale == "1-9":
        return float(sum(int(k) * p for k, p in probs.items()))
    return float(probs.get("yes", 0.0))


def _answer_token(tokens: Sequence[TokenLogprob], offset: int) -> TokenLogprob | None:
    """The token covering character ``offset`` of the concatenated token texts."""
    position = 0
    for token in tokens:
        end = position + len(token.token)
        if position <= offset < end:
            return token
        position = end
    return None


def score_answer(text: str, scale: Scale, tokens: Sequence[TokenLogprob] | None = None) -> AnswerScore:
    """Score one reply: the expectation over the answer token's alternatives when ``tokens`` carry them, else the
    parsed answer. Raises :class:`ParseFailure` when the reply has no answer on ``scale``."""
    answer, _ = parse_answer(text, scale)
    if tokens:
        joined = "".join(t.token for t in tokens)
        try:
            _, offset = parse_answer(joined, scale)
        except ParseFailure:
            offset = -1
        token = _answer_token(tokens, offset) if offset >= 0 else None
        if token is not None:
            alternatives = dict(token.top) or {token.token: token.logprob}
            if not _usable(token.logprob, alternatives, scale):
                return AnswerScore(answer_value(answer, scale), answer, "parsed", logprobs_unusable=True)
            probs = option_probs(alternatives, scale)
            if probs:
                return AnswerScore(expectation(probs, scale), answer, "logprobs", probs)
    return AnswerScore(answer_value(answer, scale), answer, "parsed")


def _usable(chosen: float, alternatives: Mapping[str, float], scale: Scale) -> bool:
    """Whether the answer token's log-probability and its options' are numbers a probability can come from.

    A NaN (or +inf) there is a server fault, not a probability of 0: dropping it would score the *other* options'
    mean (4.75 for an answer of 7 whose own entry is NaN), a rating the model never gave.
    """
    options = DIGITS if scale == "1-9" else ("yes", "no")
    values = [chosen, *(v for k, v in alternatives.items() if k.strip().lower() in options)]
    return not any(math.isnan(v) or v == math.inf for v in values)


def score_from_logits(logits: Sequence[float], options: Sequence[str], scale: Scale) -> AnswerScore:
    """Score from the next-token logits of the answer options (in-process models: no generation needed).

    ``logits[i]`` is the logit of option ``options[i]``; the softmax over the options gives the probabilities.
    """
    top = max(logits)
    weights = [math.exp(v - top) for v in logits]
    total = sum(weights)
    probs = {opt: w / total for opt, w in zip(options, weights, strict=True)}
    answer = max(probs, key=lambda k: probs[k])
    return AnswerScore(expectation(probs, scale), answer, "logprobs", probs)
