"""The LVLM scoring protocol and remote-call machinery shared by the LVLM reward plugins.

* :mod:`~f2g_core.lvlm.templates` — versioned prompt templates (1–9 and yes/no scales, grid or frames);
* :mod:`~f2g_core.lvlm.parsing` — answer parsing and the expectation over answer-token probabilities;
* :mod:`~f2g_core.lvlm.reward` — :class:`LVLMReward`, the base class of remote LVLM rewards (concurrency, retries,
  cache, accounting, budget, keys);
* :mod:`~f2g_core.lvlm.fake_server` — an OpenAI/Anthropic-compatible server on 127.0.0.1 for tests;
* :mod:`~f2g_core.lvlm.pytest_fixtures` — pytest fixtures around it.

Importing this package imports no API client: providers import theirs in ``load()``.
"""

from f2g_core.lvlm.accounting import DEFAULT_PRICES, Budget, Price, PriceTable, Usage
from f2g_core.lvlm.cache import AnswerCache, cache_key, default_cache_dir
from f2g_core.lvlm.parsing import AnswerScore, ParseFailure, TokenLogprob, parse_answer, score_answer, score_from_logits
from f2g_core.lvlm.retry import Failure, RetryPolicy, classify_status, retry_after_seconds
from f2g_core.lvlm.reward import LVLMOptions, LVLMRequest, LVLMResponse, LVLMReward, MalformedResponse
from f2g_core.lvlm.templates import BUILTIN_TEMPLATES, ScoringPrompt, Template, build_prompt, resolve_template

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
    "MalformedResponse",
    "ParseFailure",
    "Price",
    "PriceTable",
    "RetryPolicy",
    "ScoringPrompt",
    "Template",
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
