"""The LVLM scoring protocol and remote-call machinery shared by the LVLM reward plugins.

* :mod:`~f2g_lvlm.templates` — versioned prompt templates (1–9 and yes/no scales, grid or frames);
* :mod:`~f2g_lvlm.parsing` — answer parsing and the expectation over answer-token probabilities;
* :mod:`~f2g_lvlm.reward` — :class:`LVLMReward`, the base class of remote LVLM rewards (concurrency, retries,
  cache, accounting, budget, keys);
* :mod:`~f2g_lvlm.sdk` — :class:`SDKReward`, the base of providers with an official SDK shaped like ``openai``'s;
* :mod:`~f2g_lvlm.fake_server` — an OpenAI/Anthropic-compatible server on 127.0.0.1 for tests;
* :mod:`~f2g_lvlm.testing` — the fake server's public names and opt-in pytest fixtures around it.

Importing this package imports nothing heavy (no API client, not even tenacity): the names below load on first
use (PEP 562), so a plugin's entry point that only registers its reward stays cheap.
"""

from __future__ import annotations

__version__ = "0.2.0"

import importlib
from typing import Any

_EXPORTS = {
    "AnswerCache": "f2g_lvlm.cache",
    "AnswerScore": "f2g_lvlm.parsing",
    "BUILTIN_TEMPLATES": "f2g_lvlm.templates",
    "Budget": "f2g_lvlm.accounting",
    "DEFAULT_PRICES": "f2g_lvlm.accounting",
    "Failure": "f2g_lvlm.retry",
    "LVLMOptions": "f2g_lvlm.reward",
    "Ledger": "f2g_lvlm.accounting",
    "LVLMRequest": "f2g_lvlm.reward",
    "LVLMResponse": "f2g_lvlm.reward",
    "LVLMReward": "f2g_lvlm.reward",
    "MalformedResponse": "f2g_lvlm.reward",
    "ParseFailure": "f2g_lvlm.parsing",
    "Price": "f2g_lvlm.accounting",
    "PriceTable": "f2g_lvlm.accounting",
    "RetryPolicy": "f2g_lvlm.retry",
    "SDKReward": "f2g_lvlm.sdk",
    "ScoringPrompt": "f2g_lvlm.templates",
    "Template": "f2g_lvlm.templates",
    "TemplateOptions": "f2g_lvlm.templates",
    "TokenLogprob": "f2g_lvlm.parsing",
    "Usage": "f2g_lvlm.accounting",
    "build_prompt": "f2g_lvlm.templates",
    "cache_key": "f2g_lvlm.cache",
    "classify_status": "f2g_lvlm.retry",
    "default_cache_dir": "f2g_lvlm.cache",
    "parse_answer": "f2g_lvlm.parsing",
    "resolve_template": "f2g_lvlm.templates",
    "retry_after_seconds": "f2g_lvlm.retry",
    "score_answer": "f2g_lvlm.parsing",
    "score_from_logits": "f2g_lvlm.parsing",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'f2g_lvlm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_PRICES",
    "AnswerCache",
    "AnswerScore",
    "Budget",
    "Failure",
    "LVLMOptions",
    "LVLMRequest",
    "LVLMResponse",
    "LVLMReward",
    "Ledger",
    "MalformedResponse",
    "ParseFailure",
    "Price",
    "PriceTable",
    "RetryPolicy",
    "SDKReward",
    "ScoringPrompt",
    "Template",
    "TemplateOptions",
    "TokenLogprob",
    "Usage",
    "build_prompt",
    "cache_key",
    "classify_status",
    "default_cache_dir",
    "parse_answer",
    "resolve_template",
    "retry_after_seconds",
    "score_answer",
    "score_from_logits",
]
