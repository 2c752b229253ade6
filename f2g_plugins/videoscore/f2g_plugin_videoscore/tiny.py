"""The seeded miniature VideoScore (``model: tiny``): Idefics2's architecture with a 5-output head, built offline.

Shared by the reward (``model: tiny``), the tests and the golden-value script, which runs this file by path inside
the reference's own environment (mantis-vl on transformers 4.45.2): so only the standard library is imported at
module level, and the ``tokenizers`` library inside :func:`build_tokenizer`.

The tokenizer is a word-level one made from the words of the query prompt (plus a few common words), with
Idefics2's special and added tokens at the ids they have in the published checkpoint's order (``<unk>`` 0, ``<s>``
1, ``</s>`` 2, then ``<fake_token_around_image>``, ``<image>``, ``<end_of_utterance>``). ``<unk>`` is also the
padding token, as in Idefics2: the reference's head reads the token before the first padding token, so an unknown
word in a prompt moves where the miniature is read, exactly as it would in the reference (the test prompts use
this on purpose).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
"""The sentencepiece specials of Idefics2's Mistral tokenizer, at ids 0, 1, 2 (``<unk>`` doubles as padding)."""

IMAGE_TOKENS = ("<fake_token_around_image>", "<image>", "<end_of_utterance>")
"""Idefics2's added tokens, after the vocabulary (32000, 32001, 32002 in the published checkpoint)."""

COMMON_WORDS = (
    "a an the of in on and with to is red green blue yellow white black purple orange circle square triangle star "
    "moving left right up down above below next dog cat car runs walks person camera beach sunset golden light that "
    "then moves The at"
)
"""Words besides the prompt template's, so that short test prompts are not all unknown words."""

TEXT: dict[str, Any] = {
    "model_type": "mistral",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
}
"""Idefics2-8B's Mistral-7B text model shrunk: GQA (4 query, 2 key/value heads), its norm epsilon and window."""

VISION: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_channels": 3,
    "image_size": 980,
    "patch_size": 14,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
}
"""Idefics2's SigLIP vision tower shrunk; image size 980 and patch 14 as published (70 position buckets a side,
so frames of other sizes exercise the fractional position-id mapping)."""

PERCEIVER: dict[str, Any] = {
    "hidden_act": "silu",
    "resampler_n_latents": 8,
    "resampler_depth": 2,
    "resampler_n_heads": 4,
    "resampler_head_dim": 8,
    "num_key_value_heads": 2,
}
"""The perceiver resampler shrunk: 8 latents per frame (64 published), 2 layers (3), GQA as published."""

NUM_LABELS = 5
"""The regression head's outputs: visual quality, temporal consistency, dynamic degree, text-to-video alignment,
factual consistency."""

IMAGE_PROCESSOR: dict[str, Any] = {
    "do_convert_rgb": True,
    "do_image_splitting": False,
    "do_normalize": True,
    "do_pad": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "rescale_factor": 1 / 255,
    "size": {"longest_edge": 980, "shortest_edge": 378},
}
"""The published ``preprocessor_config.json`` settings (bilinear resize, sides between 378 and 980, [-1, 1])."""


def vocabulary(template: str) -> list[str]:
    """Special tokens, then the sorted words and punctuation marks of ``template`` and :data:`COMMON_WORDS`; the
    image tokens follow."""
    words = set(re.findall(r"\w+|[^\w\s]", template + " " + COMMON_WORDS))
    return [*SPECIAL_TOKENS, *sorted(words - set(SPECIAL_TOKENS))]


def build_tokenizer(template: str) -> Any:
    """A word-level ``tokenizers.Tokenizer`` over :func:`vocabulary` (words and single punctuation marks) that
    prepends ``<s>``, as Idefics2's does."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(vocabulary(template))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    core.add_special_tokens([*SPECIAL_TOKENS, *IMAGE_TOKENS])
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return core


def config_dict(vocab_size: int, token_ids: dict[str, int]) -> dict[str, Any]:
    """Keyword arguments of ``Idefics2Config`` with the regression head's settings (as the checkpoint's config)."""
    return {
        "text_config": {**TEXT, "vocab_size": vocab_size, "pad_token_id": token_ids["<unk>"]},
        "vision_config": dict(VISION),
        "perceiver_config": dict(PERCEIVER),
        "image_token_id": token_ids["<image>"],
        "tie_word_embeddings": False,
        "num_labels": NUM_LABELS,
        "problem_type": "regression",
        "pad_token_id": token_ids["<unk>"],
    }


def template_path() -> Path:
    """The query prompt (the reference's ``REGRESSION_QUERY_PROMPT``), shipped next to this file."""
    return Path(__file__).with_name("prompt_regression.txt")
