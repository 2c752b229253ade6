"""Reading an answer's probabilities from a VLM's next-token log-probabilities, the one way every scorer here does.

An answer option (a digit, ``yes``, ``no``) can be written as several single tokens — ``"7"`` and ``" 7"``,
``"yes"`` and ``" Yes"`` — depending on the tokenizer and on what precedes it. Its log-probability pools them:
log Σ p over its spellings' token ids. The ``transformers-vlm`` reward (digits or yes/no), the rubric judges
(digits 1–5) and the checklist (yes and no) all read their answers through :func:`option_log_probs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from f2g_core.errors import ConfigError


def option_token_ids(tokenizer: Any, option: str) -> list[int]:
    """Token ids that spell ``option`` in one token (``"7"``, ``" 7"``, ``"Yes"`` …); ConfigError if there is none
    (the model could never give that answer in one token)."""
    spellings = {option, " " + option, option.capitalize(), " " + option.capitalize()}
    ids: set[int] = set()
    unk = getattr(tokenizer, "unk_token_id", None)
    for spelling in spellings:
        encoded = tokenizer.encode(spelling, add_special_tokens=False)
        if len(encoded) == 1 and encoded[0] != unk:
            ids.add(int(encoded[0]))
    if not ids:
        raise ConfigError(f"the VLM's tokenizer has no single token for the answer {option!r}; choose another model")
    return sorted(ids)


def option_log_probs(log_probs: Any, option_ids: Sequence[Sequence[int]]) -> Any:
    """(…, options) log-probability of each option from (…, vocab) log-probabilities: log Σ p of its token ids.

    Probabilities are over the whole vocabulary, so mass on tokens that are no option stays out of every option.
    """
    import torch

    return torch.stack([torch.logsumexp(log_probs[..., list(ids)], dim=-1) for ids in option_ids], dim=-1)
