"""The checklist over an OpenAI-compatible server (vLLM, SGLang …): margins from the first answer token's logprobs.

One chat request per (candidate, question) with ``max_tokens=1``, temperature 0 and ``top_logprobs`` alternatives;
the question's margin is the summed probability of the ``yes`` spellings among them minus that of the ``no``
spellings (``"yes"``, ``" Yes"`` …; a spelling outside the top alternatives counts as 0, so the margin is a lower
bound on |P(yes) − P(no)| by at most the top list's missing mass).

What is shared: every request of one candidate carries the same leading content — the key frames as PNG images
in the same order (with their ``Frame k of n:`` labels), then the question — so a server with prefix caching
(vLLM's automatic prefix caching, SGLang's RadixAttention) encodes the video once per candidate and prefills only
the question's tokens for the others. To let the cache fill before the other questions ask for it, each
candidate's first question goes alone; the remaining questions of all candidates then go together, at most
``max_concurrency`` in flight. The images are encoded once per candidate, not per question.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from f2g_core.errors import ComponentError, ConfigError
from f2g_core.interfaces import RewardBatch

YES = "yes"
NO = "no"

Content = Callable[[str, int], list[dict[str, Any]]]
"""Builds the user turn of one question: ``content(question, frame_count)``."""


def margin_from_top_logprobs(top: Sequence[tuple[str, float]]) -> float:
    """P(yes) − P(no) of one answer token from its top alternatives (token text, log-probability).

    NaN when a yes/no spelling carries a log-probability that is not one (NaN or +inf: a server fault, not a 0).
    """
    mass = {YES: 0.0, NO: 0.0}
    for token, logprob in top:
        key = token.strip().lower()
        if key in mass:
            if math.isnan(logprob) or logprob == math.inf:
                return math.nan
            mass[key] += math.exp(logprob)
    return mass[YES] - mass[NO]


class RemoteChecklist:
    """Asks an OpenAI-compatible server the checklist's questions about each candidate (see the module text)."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self.calls = 0

    def base_url(self) -> str:
        url = self.options.base_url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise ConfigError(
                "checklist reward: backend 'openai' needs the server's address; set rewards.N.options.base_url "
                "(e.g. http://localhost:8000/v1) or OPENAI_BASE_URL"
            )
        return str(url).rstrip("/")

    def api_key(self) -> str:
        return os.environ.get(self.options.api_key_env, "") or "not-needed"  # local servers accept any key

    def margins(self, batch: RewardBatch, candidates: list[int], questions: list[str], content: Content) -> np.ndarray:
        """(len(candidates), questions) P(yes) − P(no) read from the server's answer-token logprobs.

        ``content(question, frame_count)`` is the user turn with ``{"type": "image"}`` where each image goes.
        """
        return asyncio.run(self._margins(batch, candidates, questions, content))

    async def _margins(
        self, batch: RewardBatch, candidates: list[int], questions: list[str], content: Content
    ) -> np.ndarray:
        import openai
        from f2g_lvlm.encoding import data_url

        o = self.options
        frame_count = len(batch.frame_indices)
        client = openai.AsyncOpenAI(base_url=self.base_url(), api_key=self.api_key(), timeout=o.timeout)
        client = client.with_options(max_retries=o.max_retries)
        limit = asyncio.Semaphore(o.max_concurrency)
        out = np.full((len(candidates), len(questions)), math.nan)

        def urls(candidate: int) -> list[str]:
            images = [batch.grid(candidate)] if o.images == "grid" else batch.pil_frames(candidate)
            return [data_url(image) for image in images]  # once per candidate, shared by its questions

        async def ask(row: int, images: list[str], q: int) -> None:
            parts = iter(images)
            turn = [
                {"type": "image_url", "image_url": {"url": next(parts)}} if part["type"] == "image" else part
                for part in content(questions[q].replace("[[prompt]]", batch.prompt), frame_count)
            ]
            body = {
                "model": o.model,
                "messages": [{"role": "user", "content": turn}],
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": o.top_logprobs,
            }
            async with limit:
                try:
                    completion = await client.chat.completions.create(**body)
                except openai.APIError as error:
                    raise ComponentError(
                        f"checklist reward: the server at {self.base_url()} failed for model {o.model!r} "
                        f"({type(error).__name__}: {error}); check that it serves that model with logprobs enabled"
                    ) from None
            self.calls += 1
            out[row, q] = _margin(completion, self.base_url())

        try:
            contents = await asyncio.gather(*(asyncio.to_thread(urls, c) for c in candidates))
            await asyncio.gather(*(ask(row, contents[row], 0) for row in range(len(candidates))))
            rest = [ask(row, contents[row], q) for row in range(len(candidates)) for q in range(1, len(questions))]
            await asyncio.gather(*rest)
        finally:
            await client.close()
        return out


def _margin(completion: Any, where: str) -> float:
    """The margin of a completion's first token; ComponentError when the server sent no logprobs."""
    choices = getattr(completion, "choices", None) or []
    logprobs = getattr(choices[0], "logprobs", None) if choices else None
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        raise ComponentError(
            f"checklist reward: the server at {where} returned no logprobs; the checklist needs a server that "
            "returns top_logprobs (vLLM, SGLang; for vLLM keep --max-logprobs at least top_logprobs)"
        )
    first = content[0]
    top = [(str(a.token), float(a.logprob)) for a in (getattr(first, "top_logprobs", None) or [])]
    return margin_from_top_logprobs(top or [(str(first.token), float(first.logprob))])
